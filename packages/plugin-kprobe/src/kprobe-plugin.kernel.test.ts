/**
 * The kprobe plugin against the real kernel of this machine. The CI kernel is built without
 * CONFIG_KPROBES, so this checks that the lack is detected and explained; attaching kprobes is
 * proven on a kprobe-capable kernel elsewhere.
 */
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createLogger, ensureTracefs } from "@ebpf-operator/core";
import { kernelSymbols } from "./kernel-symbols.js";
import { kprobePlugin } from "./kprobe-plugin.js";

const host = { logger: createLogger({ level: "silent" }), tracefs: ensureTracefs };
const kernelHasKprobes = existsSync("/sys/bus/event_source/devices/kprobe");

describe("kprobePlugin on this kernel", () => {
  it("detects kprobe support from the kernel itself", async () => {
    const target = kprobePlugin.parseTarget("kprobe", "sys_execve");
    const support = await kprobePlugin.detectSupport("kprobe", host, target);
    expect(support.supported).toBe(kernelHasKprobes);
    if (!support.supported) {
      expect(support.reason).toContain("CONFIG_KPROBES");
      expect(support.hint).toContain("syscalls/sys_enter_execve");
    }
  });

  it("suggests the exit tracepoint for a kretprobe on a syscall", async () => {
    const support = await kprobePlugin.detectSupport("kretprobe", host, kprobePlugin.parseTarget("kretprobe", "sys_openat"));
    if (!support.supported) expect(support.hint).toContain("syscalls/sys_exit_openat");
    else expect(kernelHasKprobes).toBe(true);
  });

  it("resolves sys_execve to the kernel's syscall wrapper from /proc/kallsyms", async () => {
    const resolved = await kprobePlugin.resolveTarget!("kprobe", kprobePlugin.parseTarget("kprobe", "sys_execve"), host);
    expect(resolved.symbol).toBe(process.arch === "x64" ? "__x64_sys_execve" : expect.stringContaining("sys_execve"));
    expect((await kernelSymbols()).has(resolved.symbol)).toBe(true);
  });

  it("names the closest kernel functions when the target does not exist", async () => {
    await expect(kprobePlugin.resolveTarget!("kprobe", kprobePlugin.parseTarget("kprobe", "sys_execv"), host)).rejects.toThrow(
      /kernel function "sys_execv" does not exist on this kernel \(did you mean .*sys_execve/,
    );
  });
});
