/**
 * Pod-scoped tracing programs (issue 12) on the real kernel, through the agent's own container
 * (compiler, loader, the real tracepoint and raw-tracepoint plugins, the real pod discovery).
 * The tenant's program is loaded and never attached; the agent's gate (loader/pod-gate.ts) is
 * attached at the tracepoint and tail-calls it only for tasks below a selected pod's cgroup.
 *
 * No kubelet runs in this project: the test lays out the kubelet's cgroup v2 tree itself
 * (test/helpers/kubelet-layout.ts, through test/helpers/pod-scope-agent.ts as the other
 * pod-scope tests): alice's pods under the cgroupfs driver, bob's under the systemd driver, below a cgroup of the test's own.
 * The workload is perl's `syscall(39)` (getpid on x86_64) from a process that first moves itself
 * into the pod's container cgroup: exactly N getpid calls there (perl calls getpid once before
 * the move, for `$$`, and none after). The host (the test's own cgroup) makes as many calls as
 * each pod, and the rest of the machine its own: none of them may count.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOKENS, parseManifests, type Agent, type ParsedManifest } from "@ebpf-operator/core";
import { tracepointPlugin } from "../../packages/plugin-tracepoint/src/tracepoint-plugin.js";
import { rawTracepointPlugin } from "../../packages/plugin-raw-tracepoint/src/raw-tracepoint-plugin.js";
import { admit, effectivePolicy, enforcementOf } from "../../packages/operator/src/shared/tenancy-policy.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import type { KubeletLayout } from "../helpers/kubelet-layout.js";
import { until, type FakePod } from "../helpers/kubelet-layout.js";
import { example } from "../helpers/manifests.js";
import { sampleValue } from "../helpers/metrics.js";
import { COUNT_BY_CGROUP, HEADERS, PodScopeAgent, countByPodMetrics, ebpfMap } from "../helpers/pod-scope-agent.js";

requireKernelCapabilities();

const GETPID = 39; // x86_64
const GETPPID = 110;

/** Counts getpid calls by the caller's cgroup (the pod's container), and every run in `runs`. */
const CODE = `${HEADERS}
${COUNT_BY_CGROUP}
SEC("tracepoint/syscalls/sys_enter_getpid")
int count_getpid(void *ctx) {
  count_call();
  return 0;
}

SEC("raw_tp/sys_enter")
int count_raw(struct bpf_raw_tracepoint_args *ctx) {
  if (ctx->args[1] == ${GETPID}) count_call();
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

/**
 * A tenant program written to defeat the gate: a map named like the agent's filter (which it
 * fills with every cgroup it sees), a program array of its own statically initialised with a
 * second program that counts every run, a tail call into it, a third SEC program on another
 * tracepoint that the spec does not name, and two entries in spec.programs.
 */
const HOSTILE_CODE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <ebpf-operator/metrics.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, u64);
  __type(value, u64);
} eop_pod_filter SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 1024);
  __type(key, u64);
  __type(value, u64);
} calls SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u64);
} runs SEC(".maps");

int every_call(void *ctx);

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __array(values, int (void *));
} jump SEC(".maps") = { .values = { [0] = (void *)&every_call } };

SEC("tracepoint/syscalls/sys_enter_getpid")
int every_call(void *ctx) {
  u32 zero = 0;
  u64 *n = bpf_map_lookup_elem(&runs, &zero);
  if (n) __sync_fetch_and_add(n, 1);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_getpid(void *ctx) {
  u64 cgroup = bpf_get_current_cgroup_id(), one = 1;
  bpf_map_update_elem(&eop_pod_filter, &cgroup, &one, BPF_ANY);
  EOP_COUNTER_INC(calls, cgroup);
  bpf_tail_call(ctx, &jump, 0);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int unnamed(void *ctx) {
  u32 zero = 0;
  u64 *n = bpf_map_lookup_elem(&runs, &zero);
  if (n) __sync_fetch_and_add(n, 1000);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

interface Options {
  selector?: unknown;
  type?: string;
  target?: string;
  program?: string;
  programs?: { program: string; type: string; target: string }[];
  code?: string;
  /** No spec.selector: the program attached node-wide (its label the plain cgroup id: `pod` is for pod scope only). */
  nodeWide?: boolean;
}

function manifest(namespace: string, name: string, options: Options = {}): ParsedManifest {
  const programs = options.programs
    ? { programs: options.programs }
    : { type: options.type ?? "tracepoint", target: options.target ?? "syscalls/sys_enter_getpid", program: options.program ?? "count_getpid" };
  const [calls, runs] = countByPodMetrics({ calls: "tenant_getpid", runs: "tenant_getpid_runs" }, "getpid calls of the pod's tasks");
  return ebpfMap(namespace, name, {
    ...programs,
    ...(options.nodeWide
      ? { metrics: [{ ...calls, labels: [{ name: "cgroup", decoders: [{ name: "uint" }] }] }, runs] }
      : { selector: options.selector ?? { matchLabels: { app: "web" } }, metrics: [calls, runs] }),
    code: options.code ?? CODE,
  });
}

describe("pod-scoped tracing programs on the real kernel (the agent's cgroup gate)", () => {
  // This file's agents retry a system fault soon, so a test can tell that a spec fault is not retried.
  const env = new PodScopeAgent({ name: "podtrace", plugins: [tracepointPlugin, rawTracepointPlugin], retry: { minMs: 200, maxMs: 400 } });
  const { pinRoot, pods, families, status } = env;
  let kubelet: KubeletLayout;
  let agent: Agent;
  let alice1: FakePod;
  let bob1: FakePod;

  /** Runs `count` getpid calls (or another syscall) in a process that first moves itself into `cgroupDir` (a pod's container, or undefined: the test's own cgroup). */
  function getpids(cgroupDir: string | undefined, count: number, syscall = GETPID): void {
    const script = `if ($ARGV[0] ne "") { open(my $f, ">", "$ARGV[0]/cgroup.procs") or die "open: $!"; print $f $$; close($f) or die "move: $!"; } my $n = $ARGV[2] + 0; syscall($n) for 1..$ARGV[1];`;
    const result = spawnSync("perl", ["-e", script, cgroupDir ?? "", String(count), String(syscall)], { stdio: "pipe" });
    if (result.status !== 0) throw new Error(`getpid workload failed: ${result.stderr.toString()}`);
  }
  /** Each of alice's and bob's pods and the host makes `count` calls. */
  function everybody(count: number, extra: FakePod[] = []): void {
    for (const pod of [alice1, bob1, ...extra]) getpids(pod.containerDir, count);
    getpids(undefined, count);
  }

  const value = async (metric: string, namespace: string, ebpfmap: string, labels: Record<string, string> = {}) =>
    sampleValue(await families(), metric, { namespace, ebpfmap, ...labels }) ?? 0;
  const generation = (namespace: string, name: string) => status(namespace, name)!.program!.pinDir;
  const bpftool = <T>(...args: string[]): T => JSON.parse(execFileSync("bpftool", [...args, "-j"], { encoding: "utf8" })) as T;
  /** The cgroup ids in a resource's pinned pod filter (bpftool's byte arrays, little-endian). */
  const filterIds = (namespace: string, name: string): bigint[] =>
    bpftool<{ key: string[] }[]>("map", "dump", "pinned", join(generation(namespace, name), "gate_filter"))
      .map((e) => Buffer.from(e.key.map((b) => Number.parseInt(b, 16))).readBigUInt64LE(0))
      .sort();
  const cgroupId = (dir: string): bigint => BigInt(execFileSync("stat", ["-c", "%i", dir], { encoding: "utf8" }).trim());
  /** Every program id some BPF link on the machine runs. */
  const linkedPrograms = (): number[] => bpftool<{ prog_id: number }[]>("link", "list").map((l) => l.prog_id);
  /** What a pinned link runs: the program (its name and the maps it uses). */
  const linkedProgram = (pin: string) => {
    const link = bpftool<{ prog_id: number }>("link", "show", "pinned", pin);
    return bpftool<{ id: number; name: string; map_ids?: number[] }>("prog", "show", "id", String(link.prog_id));
  };
  /** The program ids in the gate's program array (bpftool shows a prog array's values as program ids). */
  const gateTargets = (pin: string): number[] => {
    const gate = linkedProgram(pin);
    const maps = (gate.map_ids ?? []).map((id) => bpftool<{ id: number; type: string; name: string }>("map", "show", "id", String(id)));
    const calls = maps.find((m) => m.type === "prog_array")!;
    expect(maps.map((m) => m.name).sort()).toEqual(["eop_pod_calls", "eop_pod_filter"]);
    return bpftool<{ value: number | string[] }[]>("map", "dump", "id", String(calls.id)).map((e) =>
      typeof e.value === "number" ? e.value : Buffer.from(e.value.map((b) => Number.parseInt(b, 16))).readUInt32LE(0),
    );
  };

  /** `enforced`: the loader enforces the default tenancy policy's grant (as the cluster agent does for a namespace no policy selects). */
  const newAgent = (enforced = false): Promise<Agent> =>
    env.start((container) => {
      if (enforced) container.rebind(TOKENS.Enforcement).toConstantValue((ref) => enforcementOf(effectivePolicy(ref.namespace, undefined, [], [])));
    });

  beforeAll(async () => {
    kubelet = await env.layout();
    alice1 = kubelet.makePod("alice", "web-a1", "cgroupfs");
    bob1 = kubelet.makePod("bob", "web-b1", "systemd");
    pods.set(alice1.info);
    pods.set(bob1.info);
    agent = await newAgent();
  });

  afterAll(() => env.cleanup());

  it("alice's pod-scoped tracepoint counts exactly her pod's getpid calls while bob's pod and the host make as many", async () => {
    await agent.sync([manifest("alice", "getpid")]);
    expect(status("alice", "getpid")).toMatchObject({ phase: "Running" });
    expect(status("alice", "getpid")?.program?.attachments).toEqual([expect.stringMatching(/^pod alice\/web-a1 \(cgroup .*pod[0-9a-f-]+\)$/)]);
    everybody(50);
    expect(await value("tenant_getpid_total", "alice", "getpid", { pod: "web-a1" })).toBe(50);
    // The program itself ran exactly 50 times: not for bob's 50, the host's 50, nor the machine's.
    expect(await value("tenant_getpid_runs_total", "alice", "getpid")).toBe(50);
    expect(filterIds("alice", "getpid")).toEqual([cgroupId(alice1.podDir)]);
  });

  it("the tenant's program is attached nowhere: the agent's gate is, and its program array holds only the tenant's program", async () => {
    const tenant = status("alice", "getpid")!.program!.id;
    expect(linkedPrograms()).not.toContain(tenant);
    const pin = join(generation("alice", "getpid"), "link_0");
    expect(linkedProgram(pin).name).toBe("eop_pod_gate");
    expect(gateTargets(pin)).toEqual([tenant]);
  });

  it("attack: a program written to defeat the gate (its own 'eop_pod_filter', its own program array and tail call, extra SEC programs, two spec.programs) runs only for alice's pod", async () => {
    const hostile = manifest("alice", "hostile", {
      code: HOSTILE_CODE,
      programs: [
        { program: "count_getpid", type: "tracepoint", target: "syscalls/sys_enter_getpid" },
        { program: "every_call", type: "tracepoint", target: "syscalls/sys_enter_getpid" },
      ],
    });
    await agent.sync([manifest("alice", "getpid"), hostile]);
    expect(status("alice", "hostile")?.lastError).toBeUndefined();
    expect(status("alice", "hostile")).toMatchObject({ phase: "Running" });
    everybody(40);
    getpids(alice1.containerDir, 5, GETPPID); // the unnamed program's tracepoint: had it run, 1000 a call
    expect(await value("tenant_getpid_total", "alice", "hostile", { pod: "web-a1" })).toBe(40);
    // every_call ran 80 times: through its own gate (40) and through count_getpid's tail call (40).
    expect(await value("tenant_getpid_runs_total", "alice", "hostile")).toBe(80);
    // Its own "filter" holds only alice's container's cgroup: the only one it ever ran for.
    const own = bpftool<{ key: string[] }[]>("map", "dump", "pinned", join(generation("alice", "hostile"), "map_eop_pod_filter"));
    expect(own.map((e) => Buffer.from(e.key.map((b) => Number.parseInt(b, 16))).readBigUInt64LE(0))).toEqual([cgroupId(alice1.containerDir)]);
    // The agent's filter is untouched by it; both programs sit behind gates, neither attached itself.
    expect(filterIds("alice", "hostile")).toEqual([cgroupId(alice1.podDir)]);
    const dir = generation("alice", "hostile");
    const gates = readdirSync(dir)
      .filter((e) => e.startsWith("link_"))
      .sort();
    expect(gates).toEqual(["link_count_getpid_0", "link_every_call_0"]);
    for (const pin of gates) expect(linkedProgram(join(dir, pin)).name).toBe("eop_pod_gate");
    const ids = new Set(linkedPrograms());
    for (const pin of readdirSync(dir).filter((e) => e.startsWith("prog_"))) {
      expect(ids.has(bpftool<{ id: number }>("prog", "show", "pinned", join(dir, pin)).id)).toBe(false);
    }
    expect(await value("tenant_getpid_total", "alice", "getpid", { pod: "web-a1" })).toBe(90); // the first resource, unaffected
  });

  it("attack: bob's selector names alice's labels and his program runs for his own pods' tasks only", async () => {
    await agent.sync([manifest("alice", "getpid"), manifest("bob", "getpid", { selector: { matchLabels: { app: "web" } } })]);
    expect(status("bob", "getpid")).toMatchObject({ phase: "Running" });
    expect(filterIds("bob", "getpid")).toEqual([cgroupId(bob1.podDir)]);
    everybody(30);
    getpids(alice1.containerDir, 30); // alice's pod makes twice as many
    expect(await value("tenant_getpid_runs_total", "bob", "getpid")).toBe(30);
    expect(await value("tenant_getpid_total", "bob", "getpid", { pod: "web-b1" })).toBe(30);
    expect(await value("tenant_getpid_total", "alice", "getpid", { pod: "web-a1" })).toBe(150);
  });

  it("attack: a tracepoint program reading past the event's record (checked by the kernel only when the program itself is attached) is refused before it runs, as the spec's fault, and never retried", async () => {
    const code = CODE.replace(
      "int count_getpid(void *ctx) {\n  count_call();",
      "int count_getpid(void *ctx) {\n  if (((volatile u64 *)ctx)[64] == 42) return 1;\n  count_call();",
    );
    expect(code).toContain("[64] == 42");
    const failures = async (name: string) =>
      sampleValue(await families(), "ebpf_operator_agent_attach_failures_total", { namespace: "alice", ebpfmap: name, code: "EOP_ERR_ATTACH_REFUSED" }) ?? 0;
    await agent.sync([manifest("alice", "getpid"), manifest("alice", "overread", { code })]);
    expect(status("alice", "overread")).toMatchObject({ phase: "Failed", lastError: { code: "EOP_ERR_ATTACH_REFUSED" } });
    expect(status("alice", "overread")?.lastError?.message).toMatch(
      /^spec\.program "count_getpid" of EbpfMap "alice\/overread" reads past the record of tracepoint "syscalls\/sys_enter_getpid": the kernel refuses to attach it \(EACCES\); read only the event's fields/,
    );
    expect(existsSync(join(pinRoot, "alice", "overread"))).toBe(false);
    expect(status("alice", "getpid")).toMatchObject({ phase: "Running" });
    // Not retried: this file's agents retry a system fault after 200-400 ms (env), so within
    // 2 s a retried failure would have been counted again several times.
    await sleep(2000);
    expect(await failures("overread")).toBe(1);
    expect(status("alice", "overread")?.conditions.find((c) => c.type === "Ready")?.message).not.toMatch(/trying again/);
    // Node-wide (attached directly, no gate), the kernel refuses the same program at attach: the same code.
    await agent.sync([manifest("alice", "getpid"), manifest("alice", "overread", { code }), manifest("alice", "overread-node", { code, nodeWide: true })]);
    expect(status("alice", "overread-node")).toMatchObject({ phase: "Failed", lastError: { code: "EOP_ERR_ATTACH_REFUSED" } });
    expect(status("alice", "overread-node")?.lastError?.message).toMatch(/reads past the record of tracepoint "syscalls\/sys_enter_getpid"/);
    await sleep(1000);
    expect(await failures("overread-node")).toBe(1);
    expect(await failures("overread")).toBe(1);
    expect(existsSync(join(pinRoot, "alice", "overread-node"))).toBe(false);
  });

  it("raw_tp and tp_btf are refused in pod scope naming the field and why, and nothing of them runs", async () => {
    const raw = manifest("alice", "raw", { type: "raw_tp", target: "sys_enter", program: "count_raw" });
    const btf = manifest("alice", "btf", { type: "tp_btf", target: "sys_enter", program: "count_raw" });
    await agent.sync([manifest("alice", "getpid"), raw, btf]);
    expect(status("alice", "raw")).toMatchObject({ phase: "Failed", lastError: { code: "EOP_ERR_POD_SCOPE_UNSUPPORTED" } });
    expect(status("alice", "raw")?.lastError?.message).toMatch(/^spec\.selector: spec\.type "raw_tp" cannot be confined to pods: .*use type tracepoint/);
    expect(status("alice", "btf")).toMatchObject({ phase: "Failed", lastError: { code: "EOP_ERR_POD_SCOPE_UNSUPPORTED" } });
    expect(status("alice", "btf")?.lastError?.message).toMatch(/^spec\.selector: spec\.type "tp_btf" cannot be confined to pods: .*use type tracepoint/);
    expect(existsSync(join(pinRoot, "alice", "raw"))).toBe(false);
    expect(existsSync(join(pinRoot, "alice", "btf"))).toBe(false);
  });

  it("follows churn: a new pod is let through within seconds and counted; a deleted pod leaves the filter and is no longer counted", async () => {
    await agent.sync([manifest("alice", "getpid")]);
    const alice2 = kubelet.makePod("alice", "web-a2", "cgroupfs");
    const started = Date.now();
    pods.set(alice2.info);
    await until(
      "alice's second pod in the filter",
      () => filterIds("alice", "getpid").length,
      (n) => n === 2,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(filterIds("alice", "getpid")).toEqual([cgroupId(alice1.podDir), cgroupId(alice2.podDir)].sort());
    const runs = await value("tenant_getpid_runs_total", "alice", "getpid");
    everybody(10, [alice2]);
    expect(await value("tenant_getpid_total", "alice", "getpid", { pod: "web-a2" })).toBe(10);
    expect(await value("tenant_getpid_runs_total", "alice", "getpid")).toBe(runs + 20);

    pods.delete(alice2.info.uid);
    await until(
      "the deleted pod out of the filter",
      () => filterIds("alice", "getpid").length,
      (n) => n === 1,
    );
    expect(filterIds("alice", "getpid")).toEqual([cgroupId(alice1.podDir)]);
    getpids(alice2.containerDir, 10); // its cgroup still exists a moment after the API server dropped it
    expect(await value("tenant_getpid_runs_total", "alice", "getpid")).toBe(runs + 20);
    expect(await value("tenant_getpid_total", "alice", "getpid", { pod: "web-a2" })).toBe(0);
  });

  it("a restarted agent adopts the gate and the filter: counters kept, no second gate, pods still followed", async () => {
    const before = await value("tenant_getpid_runs_total", "alice", "getpid");
    const id = status("alice", "getpid")!.program!.id;
    const gate = linkedProgram(join(generation("alice", "getpid"), "link_0")).id;
    await agent.shutdown();
    getpids(alice1.containerDir, 5); // counted while no agent runs
    agent = await newAgent();
    await agent.sync([manifest("alice", "getpid")]);
    expect(status("alice", "getpid")).toMatchObject({ phase: "Running", program: { adopted: true, id } });
    expect(linkedProgram(join(generation("alice", "getpid"), "link_0")).id).toBe(gate);
    expect(linkedPrograms().filter((p) => p === gate)).toHaveLength(1);
    expect(filterIds("alice", "getpid")).toEqual([cgroupId(alice1.podDir)]);
    everybody(5);
    expect(await value("tenant_getpid_runs_total", "alice", "getpid")).toBe(before + 10);
    // The adopted pod is known by its UID: dropping it from the API server takes it out of the filter.
    pods.delete(alice1.info.uid);
    await until(
      "alice's pod out of the adopted filter",
      () => filterIds("alice", "getpid").length,
      (n) => n === 0,
    );
    getpids(alice1.containerDir, 5);
    expect(await value("tenant_getpid_runs_total", "alice", "getpid")).toBe(before + 10);
    pods.set(alice1.info);
    await until(
      "alice's pod back in the filter",
      () => filterIds("alice", "getpid").length,
      (n) => n === 1,
    );
  });

  it("runs under the default tenancy policy (no node-wide grant): admitted, loaded with its enforcement (observe helpers, observe mode), exact counts", async () => {
    const policy = effectivePolicy("alice", {}, [], ["tracepoint", "kprobe", "kretprobe"]);
    expect(policy.source).toBe("Default");
    const resource = manifest("alice", "getpid").resource;
    expect(admit({ metadata: { name: "getpid", namespace: "alice" }, spec: resource.spec }, policy, [])).toBeUndefined();
    const unenforced = generation("alice", "getpid");
    await agent.sync([]);
    await agent.shutdown();
    agent = await newAgent(true);
    await agent.sync([manifest("alice", "getpid")]);
    expect(status("alice", "getpid")).toMatchObject({ phase: "Running" });
    // The enforcement (observe mode) is part of what the kernel sees: another generation.
    expect(generation("alice", "getpid")).not.toBe(unenforced);
    await until(
      "alice's pod in the enforced resource's filter",
      () => filterIds("alice", "getpid").length,
      (n) => n === 1,
    );
    everybody(15);
    expect(await value("tenant_getpid_runs_total", "alice", "getpid")).toBe(15);
    expect(await value("tenant_getpid_total", "alice", "getpid", { pod: "web-a1" })).toBe(15);
  });

  it("runs examples/pod-syscalls.yaml as shipped (in alice's namespace, under the default policy's enforcement): her pod's getpid calls by name, no row of bob's pod or the host", async () => {
    const parsed = parseManifests(example("pod-syscalls.yaml").replace(/^metadata:\n/m, "metadata:\n  namespace: alice\n"), "pod-syscalls.yaml");
    expect(parsed.problems).toEqual([]);
    expect(parsed.resources[0]!.ref).toEqual({ namespace: "alice", name: "pod-syscalls" });
    await agent.sync([manifest("alice", "getpid"), ...parsed.resources]);
    expect(status("alice", "pod-syscalls")).toMatchObject({ phase: "Running" });
    await until(
      "alice's pod in the example's filter",
      () => filterIds("alice", "pod-syscalls").length,
      (n) => n === 1,
    );
    expect(filterIds("alice", "pod-syscalls")).toEqual([cgroupId(alice1.podDir)]);
    everybody(25);
    expect(await value("pod_syscalls_total", "alice", "pod-syscalls", { pod: "web-a1", syscall: "getpid" })).toBe(25);
    // raw_syscalls/sys_enter fires for every task on the node: only alice's pod has rows.
    const rows = (await families()).split("\n").filter((l) => l.startsWith("pod_syscalls_total{"));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.filter((l) => !l.includes('pod="web-a1"'))).toEqual([]);
  });

  it("deleting the resources detaches every gate and leaves no pins", async () => {
    await agent.sync([manifest("alice", "getpid"), manifest("bob", "getpid")]);
    const gates = ["alice", "bob"].map((ns) => linkedProgram(join(generation(ns, "getpid"), "link_0")).id);
    await agent.sync([]);
    const linked = linkedPrograms();
    for (const gate of gates) expect(linked).not.toContain(gate);
    expect(existsSync(join(pinRoot, "alice"))).toBe(false);
    expect(existsSync(join(pinRoot, "bob"))).toBe(false);
  });
});
