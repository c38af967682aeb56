/**
 * The JSON merge patch (RFC 7386) that turns `from` into `to`. A merge patch keeps every field
 * it does not name, so a field `to` lacks (or holds as undefined) must be sent as null to be
 * removed: writing a status object whole as a merge patch would leave a withdrawn
 * `status.object` or a stale `status.policy.rule` on the server. Arrays are replaced whole.
 */
export function mergePatch(from: unknown, to: unknown): unknown {
  if (!isObject(from) || !isObject(to)) return to;
  const patch: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(to)) {
    if (value !== undefined) patch[key] = mergePatch(from[key], value);
  }
  for (const key of Object.keys(from)) {
    if (to[key] === undefined && from[key] !== undefined) patch[key] = null;
  }
  return patch;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
