import { describe, expect, it } from "vitest";
import { resolveKernelFunction } from "./kernel-functions.js";

describe("resolveKernelFunction", () => {
  const functions = new Set(["do_unlinkat", "__x64_sys_openat", "__arm64_sys_openat", "sys_ni_syscall"]);

  it.each([
    ["sys_openat", "x64", "__x64_sys_openat"],
    ["sys_openat", "arm64", "__arm64_sys_openat"],
    ["do_unlinkat", "x64", "do_unlinkat"],
    ["sys_ni_syscall", "x64", "sys_ni_syscall"],
    ["__x64_sys_openat", "x64", "__x64_sys_openat"],
    ["sys_openat", "ppc64", undefined],
    ["no_such_function", "x64", undefined],
  ])("resolves %s on %s to %s", (name, arch, symbol) => {
    expect(resolveKernelFunction(name, functions, arch)).toBe(symbol);
  });
});
