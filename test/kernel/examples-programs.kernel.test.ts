/**
 * The several-program examples end to end on the real kernel with the built agent: tp_btf and
 * raw_tp enter/exit pairs (examples/syscall-latency.yaml, examples/syscall-errors.yaml) count a
 * known workload, and the fentry/fexit example (examples/fentry-unlink.yaml) is reported
 * Unsupported with an alternative on a kernel without trampolines (it runs in the vm project).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeTracing } from "@ebpf-operator/libbpf";
import { createWorkspace, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { example } from "../helpers/manifests.js";
import { fetchStatus, fetchText, promtoolCheck, sampleValue } from "../helpers/metrics.js";
import { buildWorkload, type Workload } from "../helpers/workload/workload.js";

requireKernelCapabilities();

const EXAMPLES = ["syscall-latency.yaml", "syscall-errors.yaml", "fentry-unlink.yaml"];

describe("several-program examples on the real kernel", () => {
  let workspace: AgentWorkspace;
  let agent: AgentProcess;
  let workload: Workload;
  const body = async () => (await fetchText(`${agent.url}/metrics`)).body;
  const status = async (name: string) => (await fetchStatus(agent.url)).resources.find((r) => r.name === name);
  const settled = (name: string) =>
    waitFor(
      `${name} to settle`,
      async () => {
        const s = await status(name);
        return s && s.phase !== "Pending" ? s : undefined;
      },
      60_000,
    );

  beforeAll(async () => {
    workload = buildWorkload("eopex");
    workspace = createWorkspace("examples-programs");
    mkdirSync(workspace.configDir, { recursive: true });
    for (const file of EXAMPLES) writeFileSync(join(workspace.configDir, file), example(file));
    agent = await startAgent(workspace);
  });

  afterAll(async () => {
    await agent?.stop();
    workspace?.cleanup();
    workload?.remove();
  });

  it("counts calls and errors by syscall from a raw_tp sys_enter/sys_exit pair", async () => {
    const s = await settled("syscall-errors");
    expect(s.phase).toBe("Running");
    expect(s.programs?.map((p) => p.attachments[0])).toEqual(["raw_tp sys_enter", "raw_tp sys_exit"]);
    const labels = { namespace: "default", ebpfmap: "syscall-errors", syscall: "unlinkat" };
    const before = await body();
    workload.run("unlink-missing", 40);
    const after = await body();
    const delta = (name: string, l: Record<string, string>) => (sampleValue(after, name, l) ?? 0) - (sampleValue(before, name, l) ?? 0);
    expect(delta("syscall_calls_total", labels)).toBeGreaterThanOrEqual(40);
    expect(delta("syscall_errors_total", { ...labels, errno: "ENOENT" })).toBeGreaterThanOrEqual(40);
  });

  it("serves a syscall latency histogram from a tp_btf sys_enter/sys_exit pair", async () => {
    const s = await settled("syscall-latency");
    expect(s.phase).toBe("Running");
    expect(s.programs?.map((p) => [p.name, p.type, p.target])).toEqual([
      ["syscall_enter", "tp_btf", "sys_enter"],
      ["syscall_exit", "tp_btf", "sys_exit"],
    ]);
    const labels = { namespace: "default", ebpfmap: "syscall-latency", syscall: "clock_nanosleep" };
    const count = async () => sampleValue(await body(), "syscall_latency_seconds_count", labels) ?? 0;
    const before = await count();
    workload.run("sleep", 4, 50_000);
    expect((await count()) - before).toBeGreaterThanOrEqual(4);
    // Cumulative buckets in seconds; the 50 ms sleeps are above 2^25 ns (33.6 ms).
    const text = await body();
    const buckets = text
      .split("\n")
      .filter((l) => l.startsWith("syscall_latency_seconds_bucket{") && l.includes('syscall="clock_nanosleep"'))
      .map((l) => [Number(/le="([^"]+)"/.exec(l)![1]), Number(l.slice(l.lastIndexOf(" ") + 1))] as const);
    expect(buckets.length).toBe(34); // 2^0 .. 2^32 ns and +Inf
    expect(buckets.map(([, v]) => v)).toEqual([...buckets.map(([, v]) => v)].sort((a, b) => a - b));
    const total = buckets.at(-1)![1];
    const atOrBelow = (bound: number) => buckets.filter(([le]) => le <= bound).at(-1)![1];
    expect(total - atOrBelow(2 ** 25 * 1e-9)).toBeGreaterThanOrEqual(4);
    expect(promtoolCheck(text).problems).toEqual([]);
  });

  it("reports the fentry/fexit example Unsupported on a kernel without trampolines, with an alternative", async () => {
    const s = await settled("fentry-unlink");
    if (probeTracing("trace_fentry", "bpf_fentry_test1", "func").supported) {
      expect(s.phase).toBe("Running");
      return;
    }
    expect(s.phase).toBe("Unsupported");
    expect(s.lastError?.code).toBe("EOP_ERR_KERNEL_UNSUPPORTED");
    expect(s.lastError?.message).toContain('program type "fentry" (spec.programs[0].type) is not supported by this kernel');
    expect(s.lastError?.message).toContain("kprobe with target: do_unlinkat");
  });
});
