import { describe, expect, it } from "vitest";
import { mergePatch } from "./merge-patch.js";

/** RFC 7386's apply, to check that the patch really turns `from` into `to`. */
function apply(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = apply(out[key], value);
  }
  return out;
}

describe("mergePatch", () => {
  it("removes withdrawn fields with null, at any depth, and replaces arrays whole", () => {
    const from = { object: { hash: "a" }, policy: { admitted: false, rule: "helpers", message: "no" }, conditions: [{ type: "Ready" }, { type: "Admitted" }] };
    const to = { policy: { admitted: true, message: "yes" }, conditions: [{ type: "Ready" }], ready: "0/1", gone: undefined };
    const patch = mergePatch(from, to);
    expect(patch).toEqual({ object: null, policy: { admitted: true, message: "yes", rule: null }, conditions: [{ type: "Ready" }], ready: "0/1" });
    expect(apply(from, patch)).toEqual({ policy: { admitted: true, message: "yes" }, conditions: [{ type: "Ready" }], ready: "0/1" });
  });

  it("is the value itself where either side is not an object", () => {
    expect(mergePatch(undefined, { a: 1 })).toEqual({ a: 1 });
    expect(mergePatch({ a: 1 }, [1])).toEqual([1]);
    expect(mergePatch({ a: { b: 1 } }, { a: 2 })).toEqual({ a: 2 });
  });
});
