/**
 * The header library published programs expect (bpf/include: "bits.bpf.h", "maps.bpf.h",
 * "core_fixes.bpf.h", beside libbpf's <bpf/bpf_tracing.h> and <bpf/bpf_core_read.h>): the bit
 * helpers compiled natively against exact floor-log2 values, then a program written the way
 * libbpf-tools and ebpf_exporter examples are written — their include lines, their helper calls —
 * run by the built agent on the real kernel, with a workload whose every value is known, so the
 * histogram and counters it serves are exact.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace, repoRoot, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { fetchStatus, fetchText, promtoolCheck, sampleValue } from "../helpers/metrics.js";
import { buildWorkload, type Workload } from "../helpers/workload/workload.js";

requireKernelCapabilities();

const includeDir = join(repoRoot, "bpf/include");

describe("bits.bpf.h compiled natively", () => {
  const work = mkdtempSync(join(tmpdir(), "eop-bits-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const values = [
    0n,
    1n,
    2n,
    3n,
    4n,
    5n,
    7n,
    8n,
    255n,
    256n,
    65535n,
    65536n,
    2n ** 31n,
    2n ** 32n - 1n,
    2n ** 32n,
    2n ** 32n + 1n,
    2n ** 48n + 7n,
    2n ** 63n,
    2n ** 64n - 1n,
  ];

  it("gives floor(log2(v)) for log2 and log2l, 0 for 0 and 1, as published programs expect", () => {
    writeFileSync(
      join(work, "bits.c"),
      `#include <stdio.h>
#include <stdlib.h>
#include <ebpf-operator/prelude.h>
#include "bits.bpf.h"
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    u64 v = strtoull(argv[i], 0, 10);
    printf("%llu %llu\\n", (unsigned long long)log2((u32)v), (unsigned long long)log2l(v));
  }
  u32 x = 1; WRITE_ONCE(x, 7); printf("%u\\n", READ_ONCE(x));
  return 0;
}
`,
    );
    execFileSync("clang", ["-O2", "-I", includeDir, join(work, "bits.c"), "-o", join(work, "bits")]);
    const lines = execFileSync(join(work, "bits"), values.map(String), { encoding: "utf8" }).trim().split("\n");
    const floorLog2 = (v: bigint) => (v <= 1n ? 0 : v.toString(2).length - 1);
    values.forEach((v, i) => {
      const [log2, log2l] = lines[i]!.split(" ").map(Number);
      expect([v, log2]).toEqual([v, floorLog2(v & 0xffffffffn)]);
      expect([v, log2l]).toEqual([v, floorLog2(v)]);
    });
    expect(lines.at(-1)).toBe("7");
  });
});

/** A program in the published style: only its include lines are what this product provides. */
const PUBLISHED_STYLE = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bits.bpf.h"
#include "maps.bpf.h"
#include "core_fixes.bpf.h"

#define MAX_SLOT 10
#define NR_CLOCK_NANOSLEEP_X86_64 230
#define NR_CLOCK_NANOSLEEP_ARM64 115

struct hist_key { char comm[16]; u32 bucket; };
struct state_key { char comm[16]; s64 state; };

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, struct hist_key);
  __type(value, u64);
} requested_sleep_microseconds SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, struct state_key);
  __type(value, u64);
} task_states SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
  if (id != NR_CLOCK_NANOSLEEP_X86_64 && id != NR_CLOCK_NANOSLEEP_ARM64)
    return 0;
  /* clock_nanosleep(clock, flags, const struct timespec *request, ...): the third argument. */
  struct __kernel_timespec *request = (void *)PT_REGS_PARM3_CORE(regs);
  struct __kernel_timespec ts = {};
  if (bpf_probe_read_user(&ts, sizeof(ts), request))
    return 0;
  u64 usec = (u64)ts.tv_sec * 1000000 + (u64)ts.tv_nsec / 1000;

  struct hist_key key = {};
  bpf_get_current_comm(&key.comm, sizeof(key.comm));
  increment_exp2_histogram(&requested_sleep_microseconds, key, usec, MAX_SLOT);

  struct state_key skey = {};
  u64 zero = 0, *count;
  bpf_get_current_comm(&skey.comm, sizeof(skey.comm));
  skey.state = get_task_state(bpf_get_current_task_btf());
  count = bpf_map_lookup_or_try_init(&task_states, &skey, &zero);
  if (count)
    __sync_fetch_and_add(count, 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

function manifest(): string {
  return `apiVersion: observability.cloud/v1
kind: EbpfMap
metadata:
  name: published-style
spec:
  type: tp_btf
  target: sys_enter
  program: on_sys_enter
  metrics:
    - name: requested_sleep_seconds
      type: histogram
      map: requested_sleep_microseconds
      histogram: { bucketType: exp2, bucketMin: 0, bucketMax: 10, bucketMultiplier: 1e-6 }
    - name: task_states_at_syscall
      map: task_states
  code: |
${PUBLISHED_STYLE.split("\n")
  .map((l) => `    ${l}`)
  .join("\n")}
`;
}

describe("a program written in the published style, run by the agent", () => {
  let workspace: AgentWorkspace;
  let agent: AgentProcess;
  let workload: Workload;

  beforeAll(async () => {
    workload = buildWorkload("eophd");
    workspace = createWorkspace("header-library");
    mkdirSync(workspace.configDir, { recursive: true });
    writeFileSync(join(workspace.configDir, "published.yaml"), manifest());
    agent = await startAgent(workspace);
    await waitFor(
      "published-style to run",
      async () => {
        const s = (await fetchStatus(agent.url)).resources.find((r) => r.name === "published-style");
        if (s?.phase === "Failed" || s?.phase === "Unsupported") throw new Error(`published-style ${s.phase}: ${s.lastError?.message}`);
        return s?.phase === "Running" ? s : undefined;
      },
      60_000,
    );
  });

  afterAll(async () => {
    await agent?.stop();
    workspace?.cleanup();
    workload?.remove();
  });

  it("compiled it in the sandbox, where the header library is bound read-only", async () => {
    expect((await fetchStatus(agent.url)).compiler?.sandbox.mode).toBe("bwrap");
  });

  it("serves exactly the histogram increment_exp2_histogram fills: floor log2 buckets, clamped at max, the sum at max + 1", async () => {
    // 1 us x3 -> bucket 0; 3 us x2 -> 1 (rounded down); 4 us -> 2; 1000 us x2 -> 9; 5000 us -> 12, clamped to 10.
    for (const [times, usec] of [
      [3, 1],
      [2, 3],
      [1, 4],
      [2, 1000],
      [1, 5000],
    ] as const)
      workload.run("sleep", times, usec);
    const body = (await fetchText(`${agent.url}/metrics`)).body;
    const labels = { namespace: "default", ebpfmap: "published-style", comm: workload.comm };
    const buckets = body
      .split("\n")
      .filter((l) => l.startsWith("requested_sleep_seconds_bucket{") && l.includes(`comm="${workload.comm}"`))
      .map((l) => [Number(/le="([^"]+)"/.exec(l)![1]!.replace("+Inf", "Infinity")), Number(l.slice(l.lastIndexOf(" ") + 1))]);
    // le = 2^i microseconds, in seconds; cumulative.
    expect(buckets.length).toBe(12);
    buckets.slice(0, 11).forEach(([le], i) => expect(le! / (2 ** i * 1e-6)).toBeCloseTo(1, 12));
    expect(buckets[11]![0]).toBe(Infinity);
    expect(buckets.map(([, v]) => v)).toEqual([3, 5, 6, 6, 6, 6, 6, 6, 6, 8, 9, 9]);
    expect(sampleValue(body, "requested_sleep_seconds_count", labels)).toBe(9);
    // The sum key holds the observed microseconds; exp2 multiplies it into seconds.
    expect(sampleValue(body, "requested_sleep_seconds_sum", labels)).toBeCloseTo((3 + 6 + 4 + 2000 + 5000) * 1e-6, 12);
    // bpf_map_lookup_or_try_init counted every call, and get_task_state read TASK_RUNNING (0).
    expect(sampleValue(body, "task_states_at_syscall_total", { ...labels, state: "0" })).toBe(9);
    const check = promtoolCheck(body);
    expect(
      check.problems,
      body
        .split("\n")
        .filter((l) => l.includes("published-style"))
        .join("\n"),
    ).toEqual([]);
  });
});
