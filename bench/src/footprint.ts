/**
 * The agent's footprint: the built CLI (`ebpf-agent run`) with 10 and 100 tracepoint resources
 * (distinct code, metric names and maps) from a config dir. Measures start-up (spawn → every
 * resource Running) with a cold and a warm compile cache, RSS and CPU at idle and while
 * scraped once a second, and the time from a new manifest in the config dir to its first sample
 * on /metrics (cold: code never compiled; warm: code in the compile cache). Writes
 * bench/results/footprint.json.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COUNTER_CODE, tracepointManifest } from "../../test/helpers/manifests.js";
import { agentBench, type RunningBenchAgent } from "./agent-runner.js";
import { cpuSecondsOf, log, machine, memoryOf, quick, sleep, stat, writeResult, type Stat } from "./common.js";

const COUNTS = quick ? [10] : [10, 100];
const WINDOW_S = quick ? 5 : 15;
const NEW_MANIFESTS = quick ? 3 : 5;

export interface FootprintRow {
  resources: number;
  listeningMs: { cold: number; warm: number };
  startupMs: { cold: number; warm: number };
  idle: { cpuPercent: number; rssMiB: number };
  scraped: { cpuPercent: number; rssMiB: number; scrapeMs: Stat; bodyKiB: number };
  peakRssMiB: number;
  firstSampleMs: { cold: Stat; warm: Stat };
}

/**
 * The kernel runs at most 64 BPF programs on one tracepoint (E2BIG beyond), so the resources are
 * spread over ten syscall tracepoints that stay quiet on this machine (execve aside).
 */
const TRACEPOINTS = ["execve", "acct", "chroot", "sethostname", "setdomainname", "pivot_root", "swapon", "swapoff", "syslog", "vhangup"].map(
  (s) => `syscalls/sys_enter_${s}`,
);

function manifest(name: string, index: number, nonce = ""): string {
  const map = `count_${index}`;
  const code = COUNTER_CODE.replaceAll("execve_count", map) + (nonce ? `\n// ${nonce}` : "");
  return tracepointManifest({ name, metric: `bench-fp-${name}`, map, code, help: `footprint ${name}`, target: TRACEPOINTS[index % TRACEPOINTS.length] });
}

/** CPU % of one core and RSS over `seconds`, optionally scraping once a second. */
async function window(
  agent: RunningBenchAgent,
  seconds: number,
  scrape: boolean,
): Promise<{ cpuPercent: number; rssMiB: number; scrapeMs: number[]; bodyKiB: number }> {
  const cpu0 = cpuSecondsOf(agent.pid);
  const t0 = performance.now();
  const scrapeMs: number[] = [];
  let bodyKiB = 0;
  const rss: number[] = [];
  for (let s = 0; s < seconds; s++) {
    const tick = performance.now();
    if (scrape) {
      const body = await (await fetch(`${agent.url}/metrics`)).text();
      scrapeMs.push(performance.now() - tick);
      bodyKiB = Buffer.byteLength(body) / 1024;
    }
    rss.push(memoryOf(agent.pid).rssMiB);
    await sleep(Math.max(0, 1000 - (performance.now() - tick)));
  }
  const cpuPercent = ((cpuSecondsOf(agent.pid) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
  // The window's typical RSS (the median of its 1 s samples); the process's highest is the peak column.
  return { cpuPercent, rssMiB: stat(rss).median, scrapeMs, bodyKiB };
}

async function firstSample(agent: RunningBenchAgent, write: () => void, metric: string): Promise<number> {
  const t0 = performance.now();
  write();
  for (;;) {
    const body = await (await fetch(`${agent.url}/metrics`)).text();
    if (body.includes(`\n${metric}{`)) return performance.now() - t0;
    if (performance.now() - t0 > 120_000) throw new Error(`${metric} never appeared`);
    await sleep(20);
  }
}

async function measure(count: number): Promise<FootprintRow> {
  const cache = mkdtempSync(join(tmpdir(), "eop-bench-fp-cache-"));
  const bench = agentBench(`fp${count}`, { cacheDir: cache });
  const names = Array.from({ length: count }, (_, i) => `fp-${i}`);
  names.forEach((name, i) => bench.write(`${name}.yaml`, manifest(name, i)));
  let agent: RunningBenchAgent | undefined;
  try {
    agent = await bench.start();
    const coldListening = agent.listeningMs;
    const coldStartup = await agent.waitRunning(names);
    // The agent gives start-up memory back 2 s after its last load (host/idle-memory.ts): idle
    // starts once that is done.
    await sleep(5000);
    const idle = await window(agent, WINDOW_S, false);
    const scraped = await window(agent, WINDOW_S, true);

    const cold: number[] = [];
    const warm: number[] = [];
    for (let k = 0; k < NEW_MANIFESTS; k++) {
      const nonce = `nonce ${process.pid}-${Date.now()}-${k}`;
      const coldName = `new-cold-${k}`;
      cold.push(
        await firstSample(
          agent,
          () => bench.write(`${coldName}.yaml`, manifest(coldName, 10_000 + k, nonce)),
          `bench_fp_${coldName.replaceAll("-", "_")}_total`,
        ),
      );
      bench.remove(`${coldName}.yaml`);
      const warmName = `new-warm-${k}`;
      warm.push(
        await firstSample(
          agent,
          () => bench.write(`${warmName}.yaml`, manifest(warmName, 10_000 + k, nonce)),
          `bench_fp_${warmName.replaceAll("-", "_")}_total`,
        ),
      );
      bench.remove(`${warmName}.yaml`);
      await sleep(500);
    }
    const peakRssMiB = memoryOf(agent.pid).hwmMiB;
    await agent.stop();
    agent = undefined;

    // Warm start: the same resources, nothing pinned, every object in the compile cache.
    rmSync(bench.pinRoot, { recursive: true, force: true });
    agent = await bench.start();
    const warmListening = agent.listeningMs;
    const warmStartup = await agent.waitRunning(names);
    await agent.stop();
    agent = undefined;

    const row: FootprintRow = {
      resources: count,
      listeningMs: { cold: coldListening, warm: warmListening },
      startupMs: { cold: coldStartup, warm: warmStartup },
      idle: { cpuPercent: idle.cpuPercent, rssMiB: idle.rssMiB },
      scraped: { cpuPercent: scraped.cpuPercent, rssMiB: scraped.rssMiB, scrapeMs: stat(scraped.scrapeMs), bodyKiB: scraped.bodyKiB },
      peakRssMiB,
      firstSampleMs: { cold: stat(cold), warm: stat(warm) },
    };
    log(
      `footprint ${count}: start ${coldStartup.toFixed(0)} ms cold / ${warmStartup.toFixed(0)} ms warm; idle ${idle.cpuPercent.toFixed(2)}% ${idle.rssMiB.toFixed(0)} MiB; ` +
        `scraped ${scraped.cpuPercent.toFixed(2)}% ${scraped.rssMiB.toFixed(0)} MiB; first sample ${row.firstSampleMs.cold.median.toFixed(0)} / ${row.firstSampleMs.warm.median.toFixed(0)} ms`,
    );
    return row;
  } finally {
    await agent?.stop();
    bench.cleanup();
    rmSync(cache, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows: FootprintRow[] = [];
  for (const count of COUNTS) rows.push(await measure(count));
  log(`wrote ${writeResult("footprint", { when: new Date().toISOString(), quick, machine: machine(), windowSeconds: WINDOW_S, rows })}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
