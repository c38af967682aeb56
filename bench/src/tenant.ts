/**
 * What a tenant's view costs. Two real agents (the built CLI, `ebpf-agent run`, each its own
 * process), in the same run:
 *
 *   own    holds only tenant-0's EbpfMap: scraping its `/metrics` is what reading the tenant's
 *          own maps costs (the baseline)
 *   node   holds the same EbpfMap in tenant-0 plus one in each of TENANTS-1 other namespaces,
 *          equal in size, all exporting the same metric name (one shared family, the case
 *          where the filter has to work inside a family)
 *
 * and scrapes, interleaved within each run: own `/metrics`, own `/namespaces/tenant-0/metrics`,
 * node `/namespaces/tenant-0/metrics` (the claim: no more than the baseline) and node `/metrics`
 * (the whole node: what a tenant's scrape would cost if the view were filtered after rendering).
 * Each map is a hash with `size` u64 keys, filled from user space. Measured: client wall time
 * per scrape, and the agent's own CPU time per scrape (/proc/<pid>/stat over the run's scrapes).
 * Plain HTTP without access control (the standalone agent): authentication's cost is
 * bench/src/auth.ts's. Writes bench/results/tenant.json.
 */
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { agentBench, type AgentBench, type RunningBenchAgent } from "./agent-runner.js";
import { batchReadBin, cpuSecondsOf, log, machine, quick, run, stat, writeResult, type Stat } from "./common.js";

const TENANTS = quick ? 4 : 10;
const SIZES = quick ? [10_000] : [1_000, 10_000];
const RUNS = quick ? 3 : 5;

export type TenantMode = "own-node" | "own-view" | "tenant-view" | "whole-node";

export interface TenantRow {
  size: number;
  tenants: number;
  mode: TenantMode;
  /** Series of the benchmark's metric in the body (checked: the tenant's `size`, or all). */
  series: number;
  scrapes: number;
  /** Client wall time per scrape (ms): each run's median, then median and spread over runs. */
  wallMs: Stat;
  /** The agent's CPU time per scrape (ms): each run's mean, then median and spread over runs. */
  cpuMs: Stat;
}

export interface TenantResults {
  when: string;
  commit: string;
  quick: boolean;
  machine: ReturnType<typeof machine>;
  runs: number;
  rows: TenantRow[];
}

const NAMESPACE = (i: number): string => `tenant-${i}`;

function manifest(namespace: string, name: string, size: number): string {
  return `apiVersion: observability.cloud/v1
kind: EbpfMap
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  type: tracepoint
  target: syscalls/sys_enter_acct
  program: noop
  metrics:
    - name: bench_tenant_entries
      help: "Tenant view benchmark map"
      type: gauge
      map: bench_map
  code: |
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>

    struct {
      __uint(type, BPF_MAP_TYPE_HASH);
      __uint(max_entries, ${size});
      __type(key, u64);
      __type(value, u64);
    } bench_map SEC(".maps");

    SEC("tracepoint/syscalls/sys_enter_acct")
    int noop(void *ctx) {
      return 0;
    }

    char LICENSE[] SEC("license") = "GPL";
`;
}

/** Starts an agent on `namespaces`' EbpfMaps (one each, `size` entries) and fills their maps. */
async function startAgent(bench: AgentBench, namespaces: string[], size: number): Promise<RunningBenchAgent> {
  const names = namespaces.map((ns) => `bench-${ns}`);
  namespaces.forEach((ns, i) => bench.write(`${ns}.yaml`, manifest(ns, names[i]!, size)));
  const agent = await bench.start();
  await agent.waitRunning(names);
  for (const [i, ns] of namespaces.entries()) {
    const dir = join(bench.pinRoot, ns, names[i]!);
    await run(batchReadBin, ["fill", join(dir, readdirSync(dir)[0]!, "map_bench_map"), String(size), "u64"]);
  }
  return agent;
}

const seriesIn = (body: string): number => body.split("\n").filter((l) => l.startsWith("bench_tenant_entries{")).length;

async function scrape(url: string): Promise<{ ms: number; body: string }> {
  const t0 = performance.now();
  const response = await fetch(url);
  const body = await response.text();
  if (response.status !== 200) throw new Error(`${url}: ${response.status} ${body.slice(0, 200)}`);
  return { ms: performance.now() - t0, body };
}

async function measure(size: number): Promise<TenantRow[]> {
  const own = agentBench(`tenant-own-${size}`);
  const node = agentBench(`tenant-node-${size}`);
  const agents: RunningBenchAgent[] = [];
  try {
    const ownAgent = await startAgent(own, [NAMESPACE(0)], size);
    agents.push(ownAgent);
    const nodeAgent = await startAgent(
      node,
      Array.from({ length: TENANTS }, (_, i) => NAMESPACE(i)),
      size,
    );
    agents.push(nodeAgent);
    const view = `/namespaces/${NAMESPACE(0)}/metrics`;
    const modes: { mode: TenantMode; agent: RunningBenchAgent; url: string; series: number }[] = [
      { mode: "own-node", agent: ownAgent, url: `${ownAgent.url}/metrics`, series: size },
      { mode: "own-view", agent: ownAgent, url: `${ownAgent.url}${view}`, series: size },
      { mode: "tenant-view", agent: nodeAgent, url: `${nodeAgent.url}${view}`, series: size },
      { mode: "whole-node", agent: nodeAgent, url: `${nodeAgent.url}/metrics`, series: size * TENANTS },
    ];
    // Enough scrapes per run that the agent's CPU time is many clock ticks (10 ms) long.
    const scrapesOf = (series: number): number => Math.max(10, Math.min(200, Math.round(300_000 / series)));
    const wall = new Map<TenantMode, number[]>();
    const cpu = new Map<TenantMode, number[]>();
    for (const m of modes) {
      // Warm-up (JIT, first-scrape allocations), and the check that each view serves what it should.
      for (let i = 0; i < 3; i++) {
        const { body } = await scrape(m.url);
        if (seriesIn(body) !== m.series) throw new Error(`${m.mode}: ${seriesIn(body)} series served, ${m.series} expected`);
        if (m.mode === "tenant-view" && /namespace="(?!tenant-0")/.test(body)) throw new Error("tenant view serves another namespace");
      }
    }
    for (let r = 0; r < RUNS; r++) {
      for (const m of modes) {
        const scrapes = scrapesOf(m.series);
        const times: number[] = [];
        const cpu0 = cpuSecondsOf(m.agent.pid);
        for (let i = 0; i < scrapes; i++) times.push((await scrape(m.url)).ms);
        const cpuPerScrape = ((cpuSecondsOf(m.agent.pid) - cpu0) * 1000) / scrapes;
        wall.set(m.mode, [...(wall.get(m.mode) ?? []), stat(times).median]);
        cpu.set(m.mode, [...(cpu.get(m.mode) ?? []), cpuPerScrape]);
      }
    }
    return modes.map((m) => ({
      size,
      tenants: TENANTS,
      mode: m.mode,
      series: m.series,
      scrapes: scrapesOf(m.series),
      wallMs: stat(wall.get(m.mode)!),
      cpuMs: stat(cpu.get(m.mode)!),
    }));
  } finally {
    for (const agent of agents) await agent.stop();
    own.cleanup();
    node.cleanup();
  }
}

async function main(): Promise<void> {
  const rows: TenantRow[] = [];
  for (const size of SIZES) {
    const measured = await measure(size);
    rows.push(...measured);
    for (const row of measured)
      log(`tenant ${size} × ${row.tenants}: ${row.mode}: wall ${row.wallMs.median.toFixed(2)} ms, agent cpu ${row.cpuMs.median.toFixed(2)} ms per scrape`);
  }
  const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  log(`wrote ${writeResult("tenant", { when: new Date().toISOString(), commit, quick, machine: machine(), runs: RUNS, rows } satisfies TenantResults)}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
