/**
 * Per-CPU labels on the real kernel: a per-CPU hash counts getppid calls by command; the agent
 * serves it twice, per CPU (`perCpu: true`, a `cpu` label) and summed (the default). The workload
 * runs pinned to one CPU at a time (taskset), so each CPU's series grows by exactly its calls and
 * the sum by all of them. A `perCpu` metric on a map that is not per-CPU fails its resource alone,
 * with a message naming the field.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { fetchStatus, fetchText, promtoolCheck, sampleValue } from "../helpers/metrics.js";
import { buildWorkload, type Workload } from "../helpers/workload/workload.js";

requireKernelCapabilities();

const CODE = `#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include "maps.bpf.h"

struct key_t {
  char comm[16];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 1024);
  __type(key, struct key_t);
  __type(value, u64);
} getppid_calls SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, struct key_t);
  __type(value, u64);
} shared_calls SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
  struct key_t key = {};

  bpf_get_current_comm(&key.comm, sizeof(key.comm));
  increment_map(&getppid_calls, &key, 1);
  increment_map(&shared_calls, &key, 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

function manifest(name: string, metrics: string): string {
  const code = CODE.split("\n")
    .map((line) => (line ? `    ${line}` : ""))
    .join("\n");
  return `apiVersion: observability.cloud/v1
kind: EbpfMap
metadata:
  name: ${name}
spec:
  type: tracepoint
  target: syscalls/sys_enter_getppid
  program: on_getppid
  metrics:
${metrics}
  code: |
${code}
`;
}

const GOOD = manifest(
  "per-cpu",
  `    - { name: getppid_by_cpu, map: getppid_calls, perCpu: true }
    - { name: getppid_summed, map: getppid_calls }`,
);
const WRONG_MAP = manifest("per-cpu-wrong-map", `    - { name: shared_by_cpu, map: shared_calls, perCpu: true }`);

/** The CPUs this process may run on (taskset's list), at most two. */
function allowedCpus(): number[] {
  const list = /list: (.*)$/.exec(execFileSync("taskset", ["-cp", String(process.pid)], { encoding: "utf8" }).trim())![1]!;
  const cpus = list.split(",").flatMap((part) => {
    const [from, to] = part.split("-").map(Number) as [number, number | undefined];
    return Array.from({ length: (to ?? from) - from + 1 }, (_, i) => from + i);
  });
  return cpus.slice(0, 2);
}

describe("per-CPU labels", () => {
  let workspace: AgentWorkspace;
  let agent: AgentProcess;
  let workload: Workload;
  const metrics = async () => (await fetchText(`${agent.url}/metrics`)).body;

  beforeAll(async () => {
    workload = buildWorkload("eopcpu");
    workspace = createWorkspace("per-cpu");
    mkdirSync(workspace.configDir, { recursive: true });
    writeFileSync(join(workspace.configDir, "per-cpu.yaml"), GOOD);
    writeFileSync(join(workspace.configDir, "per-cpu-wrong-map.yaml"), WRONG_MAP);
    agent = await startAgent(workspace);
    await waitFor(
      "per-cpu to run and per-cpu-wrong-map to fail",
      async () => {
        const statuses = (await fetchStatus(agent.url)).resources;
        const good = statuses.find((s) => s.name === "per-cpu");
        if (good?.phase === "Failed") throw new Error(`per-cpu failed: ${good.lastError?.message}`);
        const wrong = statuses.find((s) => s.name === "per-cpu-wrong-map");
        return good?.phase === "Running" && wrong?.phase === "Failed" ? true : undefined;
      },
      120_000,
    );
  }, 180_000);

  afterAll(async () => {
    await agent?.stop();
    workspace?.cleanup();
    workload?.remove();
  });

  it("serves each CPU's count under its cpu label, exactly the calls made there, and the sum without perCpu", async () => {
    const cpus = allowedCpus();
    const labels = { namespace: "default", ebpfmap: "per-cpu", comm: workload.comm };
    const read = (body: string) => ({
      perCpu: cpus.map((cpu) => sampleValue(body, "getppid_by_cpu_total", { ...labels, cpu: String(cpu) }) ?? 0),
      summed: sampleValue(body, "getppid_summed_total", labels) ?? 0,
    });
    const before = read(await metrics());
    const calls = cpus.map((_, i) => 100 + 37 * i);
    cpus.forEach((cpu, i) => execFileSync("taskset", ["-c", String(cpu), workload.path, "getppid", String(calls[i])], { stdio: "pipe" }));
    const body = await metrics();
    const after = read(body);
    expect(after.perCpu.map((v, i) => v - before.perCpu[i]!)).toEqual(calls);
    expect(after.summed - before.summed).toBe(calls.reduce((a, b) => a + b, 0));
    // The summed metric has no cpu label; the per-CPU one has one series per possible CPU.
    expect(body).not.toMatch(/getppid_summed_total\{[^}]*cpu=/);
    expect(body).toMatch(new RegExp(`getppid_by_cpu_total\\{[^}]*comm="${workload.comm}",cpu="${cpus[0]}"\\}`));
    expect(promtoolCheck(body).problems).toEqual([]);
  });

  it("fails a perCpu metric on a map that is not per-CPU, naming the field, without touching the other resource", async () => {
    const statuses = (await fetchStatus(agent.url)).resources;
    const wrong = statuses.find((s) => s.name === "per-cpu-wrong-map")!;
    expect(wrong.lastError?.message).toMatch(
      /spec\.metrics\[0\]\.perCpu of EbpfMap "default\/per-cpu-wrong-map": map "shared_calls" is a hash map, not a per-CPU one/,
    );
    expect(statuses.find((s) => s.name === "per-cpu")?.phase).toBe("Running");
  });
});
