/**
 * raw_tp and tp_btf on the real kernel: detection against the kernel itself, the attach point
 * checked in the kernel's BTF with did-you-mean, and the conformance cycle through the agent's
 * loader for both types (load, attach, adopt from pins after a "restart", detach, nothing left),
 * with the program's own count proving it ran. The section names in the C are wrong on purpose:
 * the resource's type and target decide.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { createLogger, ensureTracefs } from "@ebpf-operator/core";
import { runKernelCycle } from "@ebpf-operator/core/testing";
import { probeProgramType } from "@ebpf-operator/libbpf";
import { requireKernelCapabilities } from "../../../test/helpers/kernel.js";
import { rawTracepointPlugin } from "./raw-tracepoint-plugin.js";

requireKernelCapabilities();

const host = { logger: createLogger({ level: "silent" }), tracefs: ensureTracefs };

const COUNT_CODE = (section: string, signature: string) => `#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u64);
} events SEC(".maps");

SEC("${section}")
int ${signature} {
  u32 key = 0;
  u64 *count = bpf_map_lookup_elem(&events, &key);
  if (count)
    __sync_fetch_and_add(count, 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";`;

/** The cycle's exercise: execs fire sched_process_exec once each; the count must have grown. */
function countsExecs() {
  return (loaded: { maps: Map<string, { lookup(key: Buffer): Buffer | undefined }> }) => {
    const read = () => loaded.maps.get("events")!.lookup(Buffer.alloc(4))!.readBigUInt64LE(0);
    const before = read();
    for (let i = 0; i < 5; i++) execFileSync("/bin/true");
    expect(read() - before).toBeGreaterThanOrEqual(5n);
  };
}

describe("raw_tp and tp_btf on this kernel", () => {
  it("detects raw_tp support from the program type the kernel loads", async () => {
    expect((await rawTracepointPlugin.detectSupport("raw_tp", host)).supported).toBe(probeProgramType("raw_tracepoint"));
  });

  it("detects tp_btf support with a real BTF-typed load (this kernel has it)", async () => {
    expect(await rawTracepointPlugin.detectSupport("tp_btf", host, rawTracepointPlugin.parseTarget("tp_btf", "sched_switch"))).toEqual({ supported: true });
  });

  it("names the closest tracepoints when the target does not exist", async () => {
    await expect(rawTracepointPlugin.resolveTarget!("tp_btf", rawTracepointPlugin.parseTarget("tp_btf", "sched_swtch"), host)).rejects.toThrow(
      /tracepoint "sched_swtch" does not exist on this kernel \(did you mean .*sched_switch/,
    );
    expect(await rawTracepointPlugin.resolveTarget!("raw_tp", { name: "sys_enter" }, host)).toEqual({ name: "sys_enter" });
  });

  it("loads, attaches, is adopted and detaches a raw_tp program through the agent's loader", async () => {
    const report = await runKernelCycle(rawTracepointPlugin, {
      type: "raw_tp",
      target: "sched_process_exec",
      code: COUNT_CODE("raw_tp/sys_enter", "count(struct bpf_raw_tracepoint_args *ctx)"),
      program: "count",
      map: "events",
      exercise: countsExecs(),
    });
    expect(report.fresh).toEqual(["raw_tp sched_process_exec"]);
    expect(report.attachmentKinds).toEqual(["link"]);
  });

  it("loads, attaches, is adopted and detaches a tp_btf program through the agent's loader", async () => {
    const report = await runKernelCycle(rawTracepointPlugin, {
      type: "tp_btf",
      target: "tp_btf/sched_process_exec",
      code: COUNT_CODE("tp_btf/sched_switch", "BPF_PROG(count, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)"),
      program: "count",
      map: "events",
      exercise: countsExecs(),
    });
    expect(report.fresh).toEqual(["tp_btf sched_process_exec"]);
  });
});
