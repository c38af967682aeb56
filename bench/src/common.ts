/** Shared by the benchmark scripts: paths, statistics, result files, small process helpers. */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (bench/dist/<script>.js or bench/src/<script>.ts → ../..). */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const benchDir = join(repoRoot, "bench");
export const resultsDir = join(benchDir, "results");
export const cacheDir = join(benchDir, ".cache");
export const batchReadBin = join(cacheDir, "batch-read");
export const agentCli = join(repoRoot, "packages/core/dist/cli.js");
/**
 * The V8 flags the agent is run with everywhere it ships (scripts/demo.sh, the agent image's
 * NODE_OPTIONS): a 2 MiB young generation keeps each scavenge short while a scrape holds many
 * strings alive (docs/benchmarks.md, "Streaming /metrics").
 */
export const AGENT_NODE_FLAGS = ["--max-semi-space-size=2"];
export const operatorCli = join(repoRoot, "packages/operator/dist/cli.js");

export const quick = process.argv.includes("--quick") || process.env.EOP_BENCH_QUICK === "1";

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function stat(values: readonly number[]): Stat {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length };
}

export function writeResult(name: string, data: unknown): string {
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}

export function readResult<T>(name: string): T | undefined {
  try {
    return JSON.parse(readFileSync(join(resultsDir, `${name}.json`), "utf8")) as T;
  } catch {
    return undefined;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Runs a program to completion; rejects on a non-zero exit with its stderr. */
export function run(
  file: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ stdout: string; stderr: string; wallMs: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"], env: options.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (code === 0) resolve({ stdout, stderr, wallMs });
      else reject(new Error(`${file} ${args.join(" ")} exited ${code}: ${stderr.trim().slice(-2000)}`));
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/** Resident set size and its peak, in MiB, from /proc/<pid>/status. */
export function memoryOf(pid: number): { rssMiB: number; hwmMiB: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) / 1024;
  return { rssMiB: field("VmRSS"), hwmMiB: field("VmHWM") };
}

/** User + system CPU seconds a process has used, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / clockTicks();
}

let ticks: number | undefined;
function clockTicks(): number {
  ticks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  return ticks;
}

/** The machine, for the report. */
export function machine(): { cpu: string; cpus: number; kernel: string; memGiB: number; node: string; uptime: string } {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const cpu = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown";
  const cpus = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  const kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
  const uptime = execFileSync("uptime", [], { encoding: "utf8" }).trim();
  return { cpu, cpus, kernel, memGiB: Math.round((memKb / 1024 / 1024) * 10) / 10, node: process.version, uptime };
}
