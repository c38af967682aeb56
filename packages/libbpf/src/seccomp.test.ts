import { describe, expect, it } from "vitest";
import { buildSeccompFilter } from "./seccomp.js";

// Runs the real libseccomp through the addon. Whether a filter actually confines a process is
// tested where one is applied (the compiler sandbox, packages/core/src/compiler/sandbox.test.ts).
describe("buildSeccompFilter", () => {
  it("exports a classic-BPF program: whole 8-byte instructions ending in a return", () => {
    const { program, unresolved } = buildSeccompFilter(1, [
      { syscall: "read", action: "allow" },
      { syscall: "clone", action: "allow", args: [{ index: 0, op: "masked_eq", mask: 0x10000000, value: 0 }] },
      { syscall: "socket", action: "errno", errno: 13 },
    ]);
    expect(unresolved).toEqual([]);
    expect(program.length % 8).toBe(0);
    expect(program.length).toBeGreaterThan(8 * 4);
    // The last instruction is a BPF_RET (class 0x06).
    expect(program.readUInt16LE(program.length - 8) & 0x07).toBe(0x06);
  });

  it("reports names the architecture does not have instead of failing", () => {
    const { unresolved } = buildSeccompFilter(1, [
      { syscall: "read", action: "allow" },
      { syscall: "no_such_syscall_4711", action: "allow" },
    ]);
    expect(unresolved).toEqual(["no_such_syscall_4711"]);
  });

  it("grows with the rules and refuses a bad default errno", () => {
    const small = buildSeccompFilter(1, [{ syscall: "read", action: "allow" }]).program.length;
    const big = buildSeccompFilter(
      1,
      ["read", "write", "openat", "close", "mmap"].map((syscall) => ({ syscall, action: "allow" as const })),
    ).program.length;
    expect(big).toBeGreaterThan(small);
    expect(() => buildSeccompFilter(0, [])).toThrow(RangeError);
  });
});
