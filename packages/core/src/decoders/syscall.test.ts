import { describe, expect, it } from "vitest";
import { kernelSyscallTable, syscall } from "./syscall.js";
import { SYSCALLS_ARM64, SYSCALLS_X86_64 } from "./syscall-table.js";
import { text } from "./test-support.js";

describe("syscall decoder", () => {
  it.each([
    ["0", "read"],
    ["1", "write"],
    ["59", "execve"],
    ["231", "exit_group"],
    ["450", "set_mempolicy_home_node"],
    ["462", "mseal"],
    ["468", "file_getattr"],
    ["100000", "unknown:100000"],
    ["-1", "unknown:-1"],
    ["abc", "unknown:0x616263"],
  ])("decodes %j as %s with the x86_64 table", (input, expected) => {
    expect(syscall.decode(text(input), { arch: "x86_64" })).toBe(expected);
  });

  it.each([
    ["56", "openat"],
    ["63", "read"],
    ["115", "clock_nanosleep"],
    ["221", "execve"],
    ["280", "bpf"],
    ["462", "mseal"],
    ["59", "pipe2"],
    ["1024", "unknown:1024"],
  ])("decodes %j as %s with the arm64 table", (input, expected) => {
    expect(syscall.decode(text(input), { arch: "arm64" })).toBe(expected);
  });

  it("uses the running kernel's architecture by default", () => {
    expect(kernelSyscallTable("x86_64")).toBe(SYSCALLS_X86_64);
    expect(kernelSyscallTable("aarch64")).toBe(SYSCALLS_ARM64);
    expect(kernelSyscallTable("s390x")).toBeUndefined();
    const expected = kernelSyscallTable()?.get(63) ?? "unknown:63";
    expect(syscall.decode(text("63"), {})).toBe(expected);
  });

  it("refuses an architecture it has no table for", () => {
    expect(syscall.checkOptions!({ arch: "mips" })).toMatch(/arch must be one of x86_64, arm64/);
    expect(syscall.checkOptions!({ arch: "arm64" })).toBeUndefined();
    expect(syscall.checkOptions!({})).toBeUndefined();
  });
});
