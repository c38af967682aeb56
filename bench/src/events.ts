/**
 * Event overhead of the example programs that run on this kernel (the tracepoint ones): each is
 * loaded by the real agent, then a known workload runs with kernel BPF statistics on
 * (`enableStats()`); ns per event = Δ run_time_ns / Δ run_cnt of the program. Beside it, the
 * same workload's wall time with no program attached and with the program attached (statistics
 * off, as in production), median of several runs.
 *
 * Then the hooks compared: one program counting syscalls by number in a per-CPU hash — and an
 * empty one, for the hook's own cost — attached to sys_enter as a classic tracepoint, a raw_tp and
 * a tp_btf, each measured the same way against the same dd. Writes bench/results/events.json.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BpfProgram, enableStats } from "@ebpf-operator/libbpf";
import { agentBench, programPin } from "./agent-runner.js";
import { cacheDir, log, machine, quick, repoRoot, run, stat, writeResult, type Stat } from "./common.js";

interface Workload {
  name: string;
  /** What the workload does, for the report. */
  description: string;
  command: [string, ...string[]];
  /** Events the workload itself causes (the program may also see other processes' events). */
  events: number;
}

const EXECS = quick ? 500 : 2000;
const READS = quick ? 100_000 : 500_000;

const execs: Workload = {
  name: "execs",
  description: `${EXECS} × fork+execve of /bin/true from one bash loop`,
  command: ["bash", "-c", `for ((i = 0; i < ${EXECS}; i++)); do /bin/true; done`],
  events: EXECS,
};
const reads: Workload = {
  name: "reads",
  description: `dd if=/dev/zero of=/dev/null bs=1 count=${READS}: ${READS} read + ${READS} write syscalls`,
  command: ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", `count=${READS}`],
  events: READS,
};

export interface EventRow {
  example: string;
  resource: string;
  target: string;
  workload: string;
  workloadDescription: string;
  events: number;
  /** kernel stats: ns per program run */
  nsPerEvent: Stat;
  /** program runs seen during one workload run (includes other processes) */
  runsPerWorkload: Stat;
  baselineMs: Stat;
  withProgramMs: Stat;
  /** (with − without) / workload events, in ns: the overhead as the workload sees it */
  wallNsPerEvent: number;
}

/** The same dd, counted as every syscall it makes (raw_syscalls/sys_enter fires for each). */
const syscalls: Workload = { ...reads, name: "syscalls", events: 2 * READS };

const EXAMPLES: { file: string; workload: Workload }[] = [
  { file: "execve-tracepoint.yaml", workload: execs },
  { file: "read-size-histogram.yaml", workload: reads },
  { file: "syscalls-by-name.yaml", workload: syscalls },
];

const RUNS = quick ? 3 : 5;

/** One hook type of the comparison: how the program reads the syscall number there. */
interface Hook {
  type: string;
  target: string;
  section: string;
  signature: string;
  id: string;
  includes: string;
}

const HOOKS: Hook[] = [
  {
    type: "tracepoint",
    target: "raw_syscalls/sys_enter",
    section: "tracepoint/raw_syscalls/sys_enter",
    signature: "on_event(struct { u64 common; long id; } *ctx)",
    id: "ctx->id",
    includes: "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>",
  },
  {
    type: "raw_tp",
    target: "sys_enter",
    section: "raw_tp/sys_enter",
    signature: "on_event(struct bpf_raw_tracepoint_args *ctx)",
    id: "ctx->args[1]",
    includes: "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>",
  },
  {
    type: "tp_btf",
    target: "sys_enter",
    section: "tp_btf/sys_enter",
    signature: "BPF_PROG(on_event, void *regs, long id)",
    id: "id",
    includes: "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>",
  },
];

export interface HookRow {
  hook: string;
  target: string;
  /** "empty": returns at once; "count": a per-CPU hash update keyed by the syscall number. */
  program: "empty" | "count";
  events: number;
  nsPerEvent: Stat;
  baselineMs: Stat;
  withProgramMs: Stat;
  wallNsPerEvent: number;
}

function hookManifest(hook: Hook, program: "empty" | "count"): string {
  const body = program === "empty" ? "  return 0;" : `  u32 nr = (u32)(${hook.id});\n  EOP_COUNTER_INC(counts, nr);\n  return 0;`;
  const code = `${hook.includes}
#include <ebpf-operator/metrics.h>

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 1024);
  __type(key, u32);
  __type(value, u64);
} counts SEC(".maps");

SEC("${hook.section}")
int ${hook.signature} {
${body}
}

char LICENSE[] SEC("license") = "GPL";`;
  return `apiVersion: observability.cloud/v1
kind: EbpfMap
metadata:
  name: hook
spec:
  type: ${hook.type}
  target: ${hook.target}
  program: on_event
  metrics:
    - name: bench_hook_${hook.type}_${program}
      map: counts
  code: |
${code
  .split("\n")
  .map((l) => `    ${l}`)
  .join("\n")}
`;
}

/** The workload's wall time without a program, with it (stats off), and ns per run (stats on). */
async function measure(manifest: string, resource: string, workload: Workload): Promise<{ ns: number[]; runs: number[]; withProgram: number[] }> {
  const bench = agentBench("events", { cacheDir: join(cacheDir, "compile") });
  bench.write(`${resource}.yaml`, manifest);
  // The agent holds BPF statistics on by default; off here, so "with program" is production cost.
  const agent = await bench.start(["--bpf-stats", "false"]);
  try {
    await agent.waitRunning([resource]);
    using program = BpfProgram.openPinned(programPin(bench.pinRoot, resource));
    const withProgram: number[] = [];
    for (let i = 0; i < RUNS; i++) withProgram.push(await timeWorkload(workload));
    const ns: number[] = [];
    const runs: number[] = [];
    {
      using _stats = enableStats();
      for (let i = 0; i < RUNS; i++) {
        const before = program.info();
        await timeWorkload(workload);
        const after = program.info();
        const count = Number(after.runCount - before.runCount);
        runs.push(count);
        ns.push(count === 0 ? NaN : Number(after.runTimeNs - before.runTimeNs) / count);
      }
    }
    return { ns, runs, withProgram };
  } finally {
    await agent.stop();
    bench.cleanup();
  }
}

async function compareHooks(): Promise<HookRow[]> {
  const rows: HookRow[] = [];
  await timeWorkload(syscalls);
  for (const program of ["empty", "count"] as const) {
    for (const hook of HOOKS) {
      // A fresh baseline beside each measurement: the machine's load drifts.
      const baseline: number[] = [];
      for (let i = 0; i < RUNS; i++) baseline.push(await timeWorkload(syscalls));
      const { ns, withProgram } = await measure(hookManifest(hook, program), "hook", syscalls);
      const row: HookRow = {
        hook: hook.type,
        target: hook.target,
        program,
        events: syscalls.events,
        nsPerEvent: stat(ns),
        baselineMs: stat(baseline),
        withProgramMs: stat(withProgram),
        wallNsPerEvent: ((stat(withProgram).median - stat(baseline).median) * 1e6) / syscalls.events,
      };
      rows.push(row);
      log(
        `events hook ${hook.type} ${program}: ${row.nsPerEvent.median.toFixed(0)} ns/event (kernel stats), +${row.wallNsPerEvent.toFixed(0)} ns per syscall (wall)`,
      );
    }
  }
  return rows;
}

async function timeWorkload(w: Workload): Promise<number> {
  return (await run(w.command[0], w.command.slice(1))).wallMs;
}

async function main(): Promise<void> {
  const rows: EventRow[] = [];
  for (const { file, workload } of EXAMPLES) {
    const text = readFileSync(join(repoRoot, "examples", file), "utf8");
    const resource = /^metadata:\s*\n\s+name:\s*(\S+)/m.exec(text)?.[1] ?? file;
    const target = /^\s+target:\s*(\S+)/m.exec(text)?.[1] ?? "";
    await timeWorkload(workload); // warm the page cache and bash
    const baseline: number[] = [];
    for (let i = 0; i < RUNS; i++) baseline.push(await timeWorkload(workload));

    const { ns, runs: runsSeen, withProgram } = await measure(text, resource, workload);
    const row: EventRow = {
      example: file,
      resource,
      target,
      workload: workload.name,
      workloadDescription: workload.description,
      events: workload.events,
      nsPerEvent: stat(ns),
      runsPerWorkload: stat(runsSeen),
      baselineMs: stat(baseline),
      withProgramMs: stat(withProgram),
      wallNsPerEvent: ((stat(withProgram).median - stat(baseline).median) * 1e6) / workload.events,
    };
    rows.push(row);
    log(
      `events ${file}: ${row.nsPerEvent.median.toFixed(0)} ns/event (kernel stats), workload ${row.baselineMs.median.toFixed(0)} → ${row.withProgramMs.median.toFixed(0)} ms`,
    );
  }
  const hooks = await compareHooks();
  log(`wrote ${writeResult("events", { when: new Date().toISOString(), quick, machine: machine(), runs: RUNS, rows, hooks })}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
