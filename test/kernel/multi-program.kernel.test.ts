/**
 * Several programs per EbpfMap (`spec.programs`), end to end on the real kernel with the built
 * agent: an enter/exit pair of one object sharing its maps (a start-time map written by one
 * program and read by the other), metrics from three maps, exact counts from a static workload
 * whose comm is unique to this run, adoption of both programs after kill -9, the pin layout,
 * and removal leaving nothing behind. The loader's all-or-nothing attach is proven below it with
 * a plugin whose attach fails after the first program attached.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BpfCompiler,
  PluginRegistry,
  ProgramLoader,
  createLogger,
  definePlugin,
  ensureBpffs,
  ensureTracefs,
  type EbpfMapSpec,
  type ProgramTypePlugin,
} from "@ebpf-operator/core";
import tracepointPlugin from "@ebpf-operator/plugin-tracepoint";
import { createWorkspace, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { fetchStatus, fetchText, promtoolCheck, sampleValue } from "../helpers/metrics.js";
import { buildWorkload, type Workload } from "../helpers/workload/workload.js";

requireKernelCapabilities();

/** libbpf-tools' syscount idea as one resource: counts, errors and latency by command and syscall. */
export const SYSCALL_PAIR_CODE = `#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#define EOP_HIST_LOG2_MAX 40
#include <ebpf-operator/histogram.h>

struct start { u64 ns; u32 id; };
struct count_key { char comm[16]; u32 syscall; };
struct error_key { char comm[16]; u32 syscall; u32 errno; };
struct latency_key { char comm[16]; u32 syscall; u32 bucket; };

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 10240); __type(key, u32); __type(value, struct start); } inflight SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 10240); __type(key, struct count_key); __type(value, u64); } calls SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 10240); __type(key, struct error_key); __type(value, u64); } errors SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 10240); __type(key, struct latency_key); __type(value, u64); } latency SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int on_enter(struct trace_event_raw_sys_enter *ctx) {
  u32 tid = (u32)bpf_get_current_pid_tgid();
  struct start s = { .ns = bpf_ktime_get_ns(), .id = (u32)ctx->id };
  struct count_key key = {};
  bpf_map_update_elem(&inflight, &tid, &s, BPF_ANY);
  bpf_get_current_comm(&key.comm, sizeof(key.comm));
  key.syscall = (u32)ctx->id;
  EOP_COUNTER_INC(calls, key);
  return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int on_exit(struct trace_event_raw_sys_exit *ctx) {
  u32 tid = (u32)bpf_get_current_pid_tgid();
  struct start *s = bpf_map_lookup_elem(&inflight, &tid);
  if (!s)
    return 0;
  struct latency_key key = {};
  bpf_get_current_comm(&key.comm, sizeof(key.comm));
  key.syscall = s->id;
  EOP_HIST_LOG2_INC(latency, key, bpf_ktime_get_ns() - s->ns);
  if (ctx->ret < 0) {
    struct error_key ek = {};
    __builtin_memcpy(ek.comm, key.comm, sizeof(ek.comm));
    ek.syscall = s->id;
    ek.errno = (u32)-ctx->ret;
    EOP_COUNTER_INC(errors, ek);
  }
  bpf_map_delete_elem(&inflight, &tid);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

function pairManifest(name: string, namespace: string): string {
  const code = SYSCALL_PAIR_CODE.split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
  return `apiVersion: observability.cloud/v1
kind: EbpfMap
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  programs:
    - program: on_enter
      type: tracepoint
      target: raw_syscalls/sys_enter
    - program: on_exit
      type: tracepoint
      target: raw_syscalls/sys_exit
  metrics:
    - name: mp_syscalls
      map: calls
      labels:
        - name: comm
        - name: syscall
          decoders: [{ name: uint }, { name: syscall }]
    - name: mp_syscall_errors
      map: errors
      labels:
        - name: comm
        - name: syscall
          decoders: [{ name: uint }, { name: syscall }]
        - name: errno
          decoders: [{ name: uint }, { name: errno }]
    - name: mp_syscall_latency_seconds
      type: histogram
      map: latency
      labels:
        - name: comm
        - name: syscall
          decoders: [{ name: uint }, { name: syscall }]
        - name: bucket
      histogram: { bucketType: exp2, bucketMin: 0, bucketMax: 40, bucketMultiplier: 1e-9 }
  code: |
${code}
`;
}

function bpftoolJson<T>(...args: string[]): T {
  return JSON.parse(execFileSync("bpftool", [...args, "-j"], { encoding: "utf8" })) as T;
}

const linksOf = (programId: number) => bpftoolJson<{ prog_id: number }[]>("link", "list").filter((l) => l.prog_id === programId).length;
const programExists = (programId: number) => bpftoolJson<{ id: number }[]>("prog", "list").some((p) => p.id === programId);

describe("a resource with an enter/exit pair of programs", () => {
  let workspace: AgentWorkspace;
  let agent: AgentProcess | undefined;
  let workload: Workload;
  const file = () => join(workspace.configDir, "pair.yaml");
  const ns = "team-mp";

  const status = async () => (await fetchStatus(agent!.url)).resources.find((r) => r.name === "syscall-pair" && r.namespace === ns);
  const running = () => waitFor("syscall-pair to be Running", async () => ((await status())?.phase === "Running" ? await status() : undefined), 60_000);
  const value = async (name: string, labels: Record<string, string>) =>
    sampleValue((await fetchText(`${agent!.url}/metrics`)).body, name, { namespace: ns, ebpfmap: "syscall-pair", comm: workload.comm, ...labels }) ?? 0;

  beforeAll(async () => {
    workload = buildWorkload("eopmp");
    workspace = createWorkspace("multi-program");
    mkdirSync(workspace.configDir, { recursive: true });
    writeFileSync(file(), pairManifest("syscall-pair", ns));
    agent = await startAgent(workspace);
  });

  afterAll(async () => {
    await agent?.stop("SIGKILL");
    workspace?.cleanup();
    workload?.remove();
  });

  it("loads both programs from one object, attached to their own targets", async () => {
    const s = (await running())!;
    expect(s.programs?.map((p) => [p.name, p.type, p.target])).toEqual([
      ["on_enter", "tracepoint", "raw_syscalls/sys_enter"],
      ["on_exit", "tracepoint", "raw_syscalls/sys_exit"],
    ]);
    expect(s.programs!.map((p) => p.attachments)).toEqual([["tracepoint raw_syscalls:sys_enter"], ["tracepoint raw_syscalls:sys_exit"]]);
    for (const p of s.programs!) expect(linksOf(p.id)).toBe(1);
    // One object: both programs use the very same start-time map, the one pinned for the resource.
    const inflight = bpftoolJson<{ id: number }>("map", "show", "pinned", join(s.program!.pinDir, "map_inflight")).id;
    const mapsOf = (id: number) => bpftoolJson<{ id: number; map_ids: number[] }[]>("prog", "list").find((p) => p.id === id)!.map_ids;
    for (const p of s.programs!) expect(mapsOf(p.id)).toContain(inflight);
  });

  it("counts calls on enter, and errors and latency on exit, exactly for the workload", async () => {
    const openat = { syscall: "openat" };
    const before = {
      calls: await value("mp_syscalls_total", openat),
      errors: await value("mp_syscall_errors_total", { ...openat, errno: "ENOENT" }),
      latency: await value("mp_syscall_latency_seconds_count", openat),
      sleeps: await value("mp_syscall_latency_seconds_count", { syscall: "clock_nanosleep" }),
    };
    workload.run("openat-missing", 37);
    workload.run("sleep", 5, 20_000);
    const after = {
      calls: await value("mp_syscalls_total", openat),
      errors: await value("mp_syscall_errors_total", { ...openat, errno: "ENOENT" }),
      latency: await value("mp_syscall_latency_seconds_count", openat),
      sleeps: await value("mp_syscall_latency_seconds_count", { syscall: "clock_nanosleep" }),
    };
    expect(after.calls - before.calls).toBe(37);
    expect(after.errors - before.errors).toBe(37);
    expect(after.latency - before.latency).toBe(37);
    expect(after.sleeps - before.sleeps).toBe(5);
    // 20 ms sleeps: none at or below 2^24 ns (16.8 ms), all within 2^30 ns (1.07 s).
    expect(await value("mp_syscall_latency_seconds_bucket", { syscall: "clock_nanosleep", le: "0.016777216" })).toBe(0);
    expect(await value("mp_syscall_latency_seconds_bucket", { syscall: "clock_nanosleep", le: "1.073741824" })).toBe(after.sleeps);
    expect(await value("mp_syscall_latency_seconds_sum", { syscall: "clock_nanosleep" })).toBeGreaterThanOrEqual(after.sleeps * 0.02);
    expect(promtoolCheck((await fetchText(`${agent!.url}/metrics`)).body).problems).toEqual([]);
  });

  it("pins each program beside the shared maps, and the first as the completion mark", async () => {
    const s = (await status())!;
    expect(readdirSync(s.program!.pinDir).sort()).toEqual([
      "link_on_enter_0",
      "link_on_exit_0",
      "map_calls",
      "map_errors",
      "map_inflight",
      "map_latency",
      "prog_on_enter",
      "prog_on_exit",
      "program",
    ]);
  });

  it("adopts both programs after kill -9: same ids, each attached once, counts continue", async () => {
    const first = (await status())!;
    const before = await value("mp_syscall_errors_total", { syscall: "openat", errno: "ENOENT" });
    await agent!.stop("SIGKILL");
    workload.run("openat-missing", 11); // counted while no agent runs
    agent = await startAgent(workspace);
    const second = (await running())!;
    expect(second.program!.adopted).toBe(true);
    expect(second.programs!.map((p) => p.id)).toEqual(first.programs!.map((p) => p.id));
    for (const p of second.programs!) expect(linksOf(p.id)).toBe(1);
    expect((await value("mp_syscall_errors_total", { syscall: "openat", errno: "ENOENT" })) - before).toBe(11);
  });

  it("serves each program's kernel run count under its own name", async () => {
    const body = (await fetchText(`${agent!.url}/metrics`)).body;
    for (const program of ["on_enter", "on_exit"]) {
      expect(sampleValue(body, "ebpf_operator_program_run_count_total", { namespace: ns, ebpfmap: "syscall-pair", program })).toBeGreaterThan(0);
    }
  });

  it("detaches both programs and removes every pin when the resource is deleted", async () => {
    const last = (await status())!;
    rmSync(file());
    await waitFor("the resource to go", async () => ((await status()) ? undefined : true));
    expect(existsSync(join(workspace.pinRoot, ns))).toBe(false);
    for (const p of last.programs!) await waitFor(`program ${p.id} to be freed`, async () => (programExists(p.id) ? undefined : true), 10_000);
  });
});

describe("ProgramLoader with several programs", () => {
  const logger = createLogger({ level: "silent" });
  const host = { logger, tracefs: ensureTracefs };
  const pinRoot = `/sys/fs/bpf/eop-test-loader-mp-${process.pid}`;

  afterAll(() => rmSync(pinRoot, { recursive: true, force: true }));

  it("attaches all or nothing: a failing second attach detaches the first and pins nothing", async () => {
    await ensureBpffs(pinRoot);
    const registry = new PluginRegistry();
    // The real tracepoint plugin, recording what its attach made.
    const made: { linkId: number; programId: number }[] = [];
    let firstLinkAlive = false;
    registry.register(
      definePlugin<unknown>({
        ...(tracepointPlugin as ProgramTypePlugin),
        meta: { ...tracepointPlugin.meta, name: "recording-tracepoint" },
        attach: async (input) => {
          const attachments = await (tracepointPlugin as ProgramTypePlugin).attach(input);
          for (const a of attachments) if (a.kind === "link") made.push({ linkId: a.link.info().id, programId: a.link.info().programId });
          return attachments;
        },
      }),
    );
    // A program type whose attach fails once the tracepoint program before it is attached.
    registry.register(
      definePlugin<string>({
        meta: { name: "failing-attach", version: "0.0.0", apiVersion: 1, programTypes: ["failing"] },
        targetSchema: { type: "string" },
        parseTarget: (_type, target) => target,
        detectSupport: async () => ({ supported: true }),
        prepare: ({ object, programName }) => object.setProgramType(programName, "tracepoint"),
        attach: async () => {
          firstLinkAlive = made.length === 1 && bpftoolJson<{ id: number }[]>("link", "list").some((l) => l.id === made[0]!.linkId);
          throw new Error("refused by the test plugin");
        },
      }),
    );
    const compiler = new BpfCompiler({ cacheDir: join(process.env.TMPDIR ?? "/tmp", "eop-test-compile-cache"), logger });
    const object = await compiler.compile({ source: SYSCALL_PAIR_CODE, label: "test/mp" });
    const spec: EbpfMapSpec = {
      programs: [
        { program: "on_enter", type: "tracepoint", target: "raw_syscalls/sys_enter" },
        { program: "on_exit", type: "failing", target: "anything" },
      ],
      code: SYSCALL_PAIR_CODE,
      metrics: [{ name: "x", map: "calls" }],
    };
    const loader = new ProgramLoader(pinRoot, registry, host);
    await expect(loader.load({ ref: { namespace: "t", name: "mp" }, spec, object: { path: object.objectPath, hash: object.hash }, logger })).rejects.toThrow(
      /attach program "on_exit" of EbpfMap "t\/mp" to failing "anything"/,
    );
    expect(firstLinkAlive).toBe(true); // the first program was attached when the second failed ...
    expect(bpftoolJson<{ id: number }[]>("link", "list").map((l) => l.id)).not.toContain(made[0]!.linkId); // ... and detached again
    await waitFor("the first program to be freed", async () => (programExists(made[0]!.programId) ? undefined : true), 10_000);
    expect(existsSync(join(pinRoot, "t"))).toBe(false);
  });
});
