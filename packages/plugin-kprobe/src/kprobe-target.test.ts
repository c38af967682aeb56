import { describe, expect, it } from "vitest";
import { resolveFunction, syscallWrapperPrefix, type KernelSymbols } from "./kernel-symbols.js";
import { parseKprobeTarget } from "./kprobe-target.js";

describe("parseKprobeTarget", () => {
  it.each([
    ["kprobe", "sys_execve", { function: "sys_execve", offset: 0, retprobe: false }],
    ["kprobe", "kprobe/do_unlinkat", { function: "do_unlinkat", offset: 0, retprobe: false }],
    ["kprobe", "tcp_v4_connect+0x10", { function: "tcp_v4_connect", offset: 16, retprobe: false }],
    ["kprobe", "vfs_read+8", { function: "vfs_read", offset: 8, retprobe: false }],
    ["kretprobe", "kretprobe/do_sys_openat2", { function: "do_sys_openat2", offset: 0, retprobe: true }],
    ["kprobe", "cleanup_module.cold", { function: "cleanup_module.cold", offset: 0, retprobe: false }],
  ])("reads %s target %s", (type, target, expected) => {
    expect(parseKprobeTarget(type, target)).toMatchObject(expected);
  });

  it("refuses an offset on a return probe", () => {
    expect(() => parseKprobeTarget("kretprobe", "vfs_read+4")).toThrow(/cannot have an offset/);
  });

  it.each(["", "sys execve", "1abc", "vfs_read+", "vfs_read+0xZZ"])("refuses %j", (target) => {
    expect(() => parseKprobeTarget("kprobe", target)).toThrow(expect.objectContaining({ code: "EOP_ERR_TARGET_INVALID" }));
  });
});

describe("resolveFunction", () => {
  const symbols = (names: string[]): KernelSymbols => ({ has: (n) => names.includes(n), names: () => names });

  it("resolves a syscall name to the arch wrapper, as libbpf's ksyscall does", () => {
    expect(resolveFunction("sys_execve", symbols(["__x64_sys_execve", "__ia32_sys_execve"]), "x64")).toBe("__x64_sys_execve");
    expect(resolveFunction("sys_execve", symbols(["__arm64_sys_execve"]), "arm64")).toBe("__arm64_sys_execve");
  });

  it("keeps a name the kernel has as it is", () => {
    expect(resolveFunction("do_unlinkat", symbols(["do_unlinkat"]), "x64")).toBe("do_unlinkat");
    expect(resolveFunction("sys_execve", symbols(["sys_execve"]), "x64")).toBe("sys_execve");
  });

  it("returns undefined for a function the kernel lacks", () => {
    expect(resolveFunction("sys_nosuch", symbols(["__x64_sys_execve"]), "x64")).toBeUndefined();
  });

  it("knows the x86_64 and arm64 prefixes", () => {
    expect(syscallWrapperPrefix("x64")).toBe("__x64_");
    expect(syscallWrapperPrefix("arm64")).toBe("__arm64_");
  });
});
