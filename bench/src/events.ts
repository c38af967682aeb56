/**
 * Event overhead of the example programs that run on this kernel (the tracepoint ones): each is
 * loaded by the real agent, then a known workload runs with kernel BPF statistics on
 * (`enableStats()`); ns per event = Δ run_time_ns / Δ run_cnt of the program. Beside it, the
 * same workload's wall time with no program attached and with the program attached (statistics
 * off, as in production), median of several runs. Writes bench/results/events.json.
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

    const bench = agentBench("events", { cacheDir: join(cacheDir, "compile") });
    bench.write(file, text);
    // The agent holds BPF statistics on by default; off here, so "with program" is production cost.
    const agent = await bench.start(["--bpf-stats", "false"]);
    try {
      await agent.waitRunning([resource]);
      using program = BpfProgram.openPinned(programPin(bench.pinRoot, resource));
      const withProgram: number[] = [];
      for (let i = 0; i < RUNS; i++) withProgram.push(await timeWorkload(workload));
      const ns: number[] = [];
      const runsSeen: number[] = [];
      {
        using _stats = enableStats();
        for (let i = 0; i < RUNS; i++) {
          const before = program.info();
          await timeWorkload(workload);
          const after = program.info();
          const count = Number(after.runCount - before.runCount);
          runsSeen.push(count);
          ns.push(count === 0 ? NaN : Number(after.runTimeNs - before.runTimeNs) / count);
        }
      }
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
    } finally {
      await agent.stop();
      bench.cleanup();
    }
  }
  log(`wrote ${writeResult("events", { when: new Date().toISOString(), quick, machine: machine(), runs: RUNS, rows })}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
