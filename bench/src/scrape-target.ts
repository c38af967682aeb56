/**
 * The process that is scraped in the scrape-path benchmark: the real standalone agent
 * (`startStandaloneAgent`, as `ebpf-agent run` starts it) on a config dir holding one EbpfMap,
 * plus an IPC channel to the orchestrator (scrape.ts) through which it measures itself around
 * each scrape: CPU time (process.cpuUsage, every thread) and event-loop delay
 * (monitorEventLoopDelay, 1 ms resolution) — the agent's own view, which a client cannot see.
 * It also times readAll() on the pinned map directly: our read without decode or render, into
 * buffers kept from one read to the next as the agent's scrape reads.
 */
import { closeSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { BpfMap, OFF_THREAD_MIN_ENTRIES } from "@ebpf-operator/libbpf";
import { startStandaloneAgent } from "@ebpf-operator/core";

export type ToTarget = { type: "begin" } | { type: "end" } | { type: "readAll"; method: "batch" | "iterate"; runs: number; warm?: boolean } | { type: "stop" };

export interface Measured {
  cpuMs: number;
  lagMaxMs: number;
  lagP99Ms: number;
}

export interface ReadRun {
  wallMs: number;
  /** CPU time of the whole process (every thread) over the read. */
  cpuMs: number;
  /** Time the reading threads were runnable but waiting for a CPU during the read (schedstat run_delay). */
  waitMs: number;
  /** Times the reading threads were put on a CPU during the read (0 on the JS thread when nothing preempted it). */
  slices: number;
  syscalls: number;
  count: number;
  method: string;
}

export type FromTarget =
  | { type: "ready"; url: string; pin: string; startMs: number }
  | { type: "begun" }
  | { type: "measured"; measured: Measured }
  | { type: "read"; runs: ReadRun[] }
  | { type: "error"; message: string };

const [configPath, pinRoot, cacheDir, name, mapName] = process.argv.slice(2) as [string, string, string, string, string];

function send(message: FromTarget): void {
  process.send!(message);
}

const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;

/**
 * Run-queue wait (ns, schedstat run_delay) and switch-ins of the threads that do our read, from
 * /proc/…/schedstat (CONFIG_SCHED_INFO), each file opened once and read with pread, as the C floor
 * reads its own thread's (batch-read serve): a few µs per file. The JS thread alone for a read
 * on the JS thread; every thread of the process for a read on the thread pool (the worker reads
 * while the JS thread sleeps; their waits do not overlap). The first field (CPU time) is not
 * used: for a running thread it lags by up to a tick.
 */
class SchedInfo {
  private readonly fds: number[];
  private readonly text = Buffer.alloc(128);

  constructor(allThreads: boolean) {
    const paths = allThreads ? readdirSync("/proc/self/task").map((tid) => `/proc/self/task/${tid}/schedstat`) : ["/proc/thread-self/schedstat"];
    this.fds = paths.map((path) => openSync(path, "r"));
  }

  read(): { waitNs: number; slices: number } {
    let waitNs = 0;
    let slices = 0;
    for (const fd of this.fds) {
      const n = readSync(fd, this.text, 0, this.text.length, 0);
      const [, wait, count] = this.text.toString("latin1", 0, n).split(" ");
      waitNs += Number(wait);
      slices += Number(count);
    }
    return { waitNs, slices };
  }

  close(): void {
    for (const fd of this.fds) closeSync(fd);
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const running = await startStandaloneAgent({
    configPath,
    listen: "127.0.0.1:0",
    pinRoot,
    cacheDir,
    plugins: ["@ebpf-operator/plugin-tracepoint"],
    logLevel: "warn",
  });
  for (let i = 0; i < 600; i++) {
    const status = running.agent.statuses().find((s) => s.name === name);
    if (status?.phase === "Running") break;
    if (status && status.phase !== "Pending") throw new Error(`resource ${name} is ${status.phase}: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const dir = join(pinRoot, "default", name);
  const generation = readdirSync(dir)[0]!;
  const pin = join(dir, generation, `map_${mapName}`);
  const map = BpfMap.openPinned(pin);
  // Enabled only from "begin" to "end": its 1 ms timer wakes this process every millisecond,
  // which, left on, preempted the C floor's reads (a separate process) and never ours (the loop
  // is busy reading): up to 17 of 21 floor reads against 0-3 of ours at 10k (12-01, docs/benchmarks.md).
  const lag = monitorEventLoopDelay({ resolution: 1 });
  let cpu0 = process.cpuUsage();

  process.on("message", (message: ToTarget) => {
    void (async () => {
      switch (message.type) {
        case "begin":
          lag.reset();
          lag.enable();
          cpu0 = process.cpuUsage();
          send({ type: "begun" });
          return;
        case "end": {
          const cpu = cpuMs(process.cpuUsage(cpu0));
          lag.disable();
          send({ type: "measured", measured: { cpuMs: cpu, lagMaxMs: lag.max / 1e6, lagP99Ms: lag.percentile(99) / 1e6 } });
          return;
        }
        case "readAll": {
          const runs: ReadRun[] = [];
          // As the agent reads at a scrape: into buffers the map keeps (reuse), filled before by an
          // unrecorded read, as the C floor's are allocated and touched before its timed runs.
          // A fresh set per read measured the page faults of ~16-24 MiB of new memory at 1M entries.
          // (runs: 1 with `warm: false` is one read of an interleaved pair: the buffers are warm.)
          if (message.warm !== false) (await map.readAll({ method: message.method, reuse: true })).release?.();
          // After the warm-up read: the thread pool's threads exist by then.
          const sched = new SchedInfo(message.method === "iterate" || map.info.maxEntries >= OFF_THREAD_MIN_ENTRIES);
          for (let i = 0; i < message.runs; i++) {
            const c0 = process.cpuUsage();
            const t0 = process.hrtime.bigint();
            const s0 = sched.read();
            const entries = await map.readAll({ method: message.method, reuse: true });
            const s1 = sched.read();
            const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
            runs.push({
              wallMs,
              cpuMs: cpuMs(process.cpuUsage(c0)),
              waitMs: (s1.waitNs - s0.waitNs) / 1e6,
              slices: s1.slices - s0.slices,
              syscalls: entries.syscalls,
              count: entries.count,
              method: entries.method,
            });
            entries.release?.();
          }
          sched.close();
          send({ type: "read", runs });
          return;
        }
        case "stop":
          lag.disable();
          map.close();
          await running.stop();
          process.exit(0);
      }
    })().catch((error: unknown) => send({ type: "error", message: String(error) }));
  });
  send({ type: "ready", url: running.url, pin, startMs: performance.now() - started });
}

main().catch((error: unknown) => {
  process.stderr.write(`scrape-target: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
