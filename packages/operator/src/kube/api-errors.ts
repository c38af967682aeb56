/** HTTP status checks on client-node's `ApiException` (it carries the status as `code`). */
function statusOf(error: unknown): number | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === "number") return code;
  }
  return undefined;
}

export const isNotFound = (error: unknown): boolean => statusOf(error) === 404;
export const isConflict = (error: unknown): boolean => statusOf(error) === 409;
export const isGone = (error: unknown): boolean => statusOf(error) === 410;

/** The API server's message (`body.message`) when there is one, else the error's. */
export function apiMessage(error: unknown): string {
  if (typeof error === "object" && error !== null && "body" in error) {
    const body = (error as { body: unknown }).body;
    const parsed = typeof body === "string" ? safeJson(body) : body;
    if (typeof parsed === "object" && parsed !== null && "message" in parsed) return String((parsed as { message: unknown }).message);
  }
  return error instanceof Error ? error.message : String(error);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
