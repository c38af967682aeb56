import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { validateEbpfMapObject } from "./validate.js";

const quickStart = parse(readFileSync(new URL("../../../../examples/quick-start.yaml", import.meta.url), "utf8")) as Record<string, unknown>;

function withSpec(patch: Record<string, unknown>): unknown {
  const copy = structuredClone(quickStart) as { spec: Record<string, unknown> };
  copy.spec = { ...copy.spec, ...patch };
  for (const [key, value] of Object.entries(patch)) if (value === undefined) delete copy.spec[key];
  return copy;
}

describe("validateEbpfMapObject", () => {
  it("accepts the README quick-start manifest unchanged", () => {
    const result = validateEbpfMapObject(quickStart);
    expect(result.ok).toBe(true);
  });

  it("fills prometheusType with counter when it is left out", () => {
    const result = validateEbpfMapObject(withSpec({ prometheusType: undefined }));
    expect(result.ok && result.value.spec.prometheusType).toBe("counter");
  });

  it("does not mutate its input", () => {
    const input = withSpec({ prometheusType: undefined }) as { spec: Record<string, unknown> };
    validateEbpfMapObject(input);
    expect(input.spec.prometheusType).toBeUndefined();
  });

  it.each([
    [{ prometheusType: "summary" }, "spec.prometheusType", "must be one of \"counter\", \"gauge\""],
    [{ program: undefined }, "spec.program", "required field is missing"],
    [{ program: "count-execve" }, "spec.program", "does not match the pattern"],
    [{ map: 42 }, "spec.map", "must be string"],
    [{ code: "" }, "spec.code", "must NOT have fewer than 1 characters"],
    [{ type: "KPROBE" }, "spec.type", "does not match the pattern"],
    [{ colour: "blue" }, "spec", "unknown field \"colour\""],
  ])("names the field when the spec is %j", (patch, field, message) => {
    const result = validateEbpfMapObject(withSpec(patch));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toContainEqual({ field, message: expect.stringContaining(message) });
  });

  it("rejects a wrong apiVersion and a metadata.name Kubernetes would refuse", () => {
    const bad = { ...structuredClone(quickStart), apiVersion: "ebpf.github.com/v1", metadata: { name: "Syscall_Monitor" } };
    const result = validateEbpfMapObject(bad);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.field)).toEqual(expect.arrayContaining(["apiVersion", "metadata.name"]));
  });
});
