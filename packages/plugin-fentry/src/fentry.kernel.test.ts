/**
 * fentry/fexit against this machine's kernel. The development and CI kernel loads tp_btf programs
 * but refuses fentry trampolines: detection must say so with the reason and an alternative, and
 * agree with what a real load of an fentry program does. Where the kernel has trampolines (the
 * 6.1 guest of the vm project: test/vm/fentry.vm.test.ts runs them end to end) the loader's
 * cycle runs here too.
 */
import { describe, expect, it } from "vitest";
import { BpfCompiler, createLogger, ensureTracefs } from "@ebpf-operator/core";
import { runKernelCycle } from "@ebpf-operator/core/testing";
import { BpfObject, probeTracing } from "@ebpf-operator/libbpf";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireKernelCapabilities } from "../../../test/helpers/kernel.js";
import { fentryPlugin } from "./fentry-plugin.js";

requireKernelCapabilities();

const host = { logger: createLogger({ level: "silent" }), tracefs: ensureTracefs };

const CODE = `#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u64);
} calls SEC(".maps");

SEC("fentry/do_unlinkat")
int BPF_PROG(count, int dfd, struct filename *name) {
  u32 key = 0;
  u64 *n = bpf_map_lookup_elem(&calls, &key);
  if (n)
    __sync_fetch_and_add(n, 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";`;

/** Whether loading a real fentry program works here (the ground truth for detection). */
async function fentryLoads(): Promise<boolean> {
  const compiled = await new BpfCompiler({ cacheDir: join(tmpdir(), "eop-test-compile-cache") }).compile({ source: CODE, label: "test/fentry" });
  const object = BpfObject.open({ path: compiled.objectPath });
  try {
    object.load();
    return true;
  } catch {
    return false;
  } finally {
    object.close();
  }
}

describe("fentry and fexit on this kernel", () => {
  it("detects trampoline support exactly as a real fentry load answers", async () => {
    const target = fentryPlugin.parseTarget("fentry", "do_unlinkat");
    const support = await fentryPlugin.detectSupport("fentry", host, target);
    expect(support.supported).toBe(await fentryLoads());
    if (!support.supported) {
      const probe = probeTracing("trace_fentry", "bpf_fentry_test1", "func");
      expect(support.reason).toContain(`failed with ${probe.errno}`);
      expect(support.reason).toContain("no BPF trampolines");
      expect(support.hint).toContain("kprobe with target: do_unlinkat");
    }
  });

  it("suggests the syscall's exit tracepoint for an fexit on a syscall the kernel cannot trampoline", async () => {
    const support = await fentryPlugin.detectSupport("fexit", host, fentryPlugin.parseTarget("fexit", "sys_openat"));
    if (!support.supported) expect(support.hint).toBe("use type: tracepoint with target: syscalls/sys_exit_openat, which fires for the same syscall");
    else expect(await fentryLoads()).toBe(true);
  });

  it("resolves a syscall name to the architecture's wrapper in the kernel's BTF, and names close functions for a typo", async () => {
    const resolved = await fentryPlugin.resolveTarget!("fentry", fentryPlugin.parseTarget("fentry", "sys_openat"), host);
    expect(resolved.symbol).toBe(process.arch === "x64" ? "__x64_sys_openat" : expect.stringContaining("sys_openat"));
    await expect(fentryPlugin.resolveTarget!("fentry", fentryPlugin.parseTarget("fentry", "do_unlinkt"), host)).rejects.toThrow(
      /kernel function "do_unlinkt" is not in the kernel's BTF \(did you mean .*do_unlinkat/,
    );
  });

  it("runs the loader's cycle where the kernel has trampolines", async () => {
    if (!(await fentryLoads())) {
      // Not a skip: the detection test above proved this kernel refuses fentry, as known.
      expect((await fentryPlugin.detectSupport("fentry", host)).supported).toBe(false);
      return;
    }
    const scratch = join(tmpdir(), `eop-fentry-${process.pid}`);
    const report = await runKernelCycle(fentryPlugin, {
      type: "fentry",
      target: "do_unlinkat",
      code: CODE,
      program: "count",
      map: "calls",
      exercise: (loaded) => {
        const read = () => loaded.maps.get("calls")!.lookup(Buffer.alloc(4))!.readBigUInt64LE(0);
        const before = read();
        for (let i = 0; i < 3; i++) {
          writeFileSync(scratch, "");
          rmSync(scratch);
        }
        expect(read() - before).toBeGreaterThanOrEqual(3n);
      },
    });
    expect(report.fresh).toEqual(["fentry do_unlinkat"]);
  });
});
