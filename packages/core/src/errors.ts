/**
 * The project's error registry: every error a user can meet has a stable code
 * (`EOP_ERR_<AREA>_<WHAT>`), a lower-case message naming the objects involved, and the
 * underlying error as `cause`. `docs/errors.md` documents every code (a test keeps the two in
 * step), so a code in a log or a status condition can always be looked up.
 */

export class EbpfOperatorError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EbpfOperatorError";
    this.code = code;
  }
}

/** Every code this package raises, with the one-line meaning shown in docs/errors.md. */
export const ERROR_CODES = {
  EOP_ERR_MANIFEST_YAML: "the file is not valid YAML",
  EOP_ERR_MANIFEST_INVALID: "the EbpfMap does not match the schema",
  EOP_ERR_MANIFEST_DUPLICATE: "two manifests declare the same namespace/name",
  EOP_ERR_PLUGIN_LOAD: "a configured plugin package could not be imported",
  EOP_ERR_PLUGIN_INVALID: "a plugin package does not export a valid ProgramTypePlugin",
  EOP_ERR_PLUGIN_API_VERSION: "a plugin implements a plugin-API version this core does not support",
  EOP_ERR_PLUGIN_CONFLICT: "two plugins claim the same program type",
  EOP_ERR_PROGRAM_TYPE_UNKNOWN: "no loaded plugin handles the resource's program type",
  EOP_ERR_TARGET_INVALID: "the target is not valid for the program type",
  EOP_ERR_TARGET_NOT_FOUND: "the attach point does not exist on this kernel",
  EOP_ERR_KERNEL_UNSUPPORTED: "the kernel lacks a feature the program type needs",
  EOP_ERR_PROGRAM_NOT_FOUND: "spec.program names no program in the compiled code",
  EOP_ERR_MAP_NOT_FOUND: "spec.map names no map in the compiled code",
  EOP_ERR_MAP_VALUE_UNSUPPORTED: "the map's value is not an integer the metric can export",
  EOP_ERR_METRIC_INVALID: "a spec.metrics entry does not fit its map's key or value types, or a decoder's options are wrong",
  EOP_ERR_DECODER_UNKNOWN: "a label names a decoder that no one registered",
  EOP_ERR_DECODER_CONFLICT: "a plugin contributes a decoder whose name core or another plugin already has",
  EOP_ERR_LOAD_VERIFIER: "the kernel verifier rejected the program",
  EOP_ERR_LOAD_FAILED: "the object could not be opened or loaded",
  EOP_ERR_ATTACH_FAILED: "attaching the program failed",
  EOP_ERR_PIN_FAILED: "pinning or adopting pinned objects failed",
  EOP_ERR_PLUGIN_FAILED: "a plugin threw an unexpected error while handling a resource",
  EOP_ERR_METRIC_CONFLICT: "another resource exports the same metric name with another type or help",
  EOP_ERR_MAP_READ: "reading a map at scrape time failed",
  EOP_ERR_CONFIG: "the agent's command line or configuration is invalid",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function operatorError(code: ErrorCode, message: string, cause?: unknown): EbpfOperatorError {
  return new EbpfOperatorError(code, message, cause === undefined ? undefined : { cause });
}

/** Errors that already carry one of our codes pass through; anything else is wrapped. */
export function withCode(code: ErrorCode, message: string, error: unknown): Error {
  const existing = errorCode(error);
  if (existing?.startsWith("EOP_ERR_")) return error as Error;
  return operatorError(code, message, error);
}

/** The code of any error: ours, libbpf's (`LibbpfError.code` is an errno name) or none. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** The message of an error followed by its causes, `: `-joined — what a status shows. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    if (current instanceof Error) {
      const message = current.message;
      // Wrappers often repeat their cause's text: show each piece once.
      if (!parts.some((part) => part.includes(message))) parts.push(message);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(": ");
}
