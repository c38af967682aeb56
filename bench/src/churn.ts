/**
 * What pod labels (the cgroup_namespace / cgroup_pod decoders' cgroup id -> pod lookup) cost in
 * memory under cgroup churn: a node with PODS pods (CONTAINERS containers each) laid out as the
 * kubelet does (cgroupfs driver) below a cgroup of the benchmark's own on the cgroup v2 mount
 * (never the root cgroup), then CHURNS short-lived cgroups, made and removed in batches of BATCH
 * (half of them named like pods the API server does not list, half plain), each one's real id
 * (its inode) decoded through `uint, cgroup_namespace` and `uint, cgroup_pod` as a scrape
 * decodes a key, between the rescans the unknown ids ask for.
 *
 * Two variants, each run in a fresh `node --expose-gc` child (interleaved, RUNS runs each):
 *
 *   bounded     the agent's lookup as shipped (PodLabels: negative cache of 4096 ids, 30 s TTL)
 *   unbounded   the same lookup with a negative cache that never forgets (no bound, no TTL):
 *               the baseline, what a cache without bounds costs under the same churn
 *
 * Measured in each child, after a forced GC: heap used and RSS after the warm-up (the node's
 * pods named) and after the churn, the cache's sizes, rescans and the churn's wall time.
 * Writes bench/results/churn.json. Everything made is removed, pass or fail.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, rmdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CORE_DECODERS, DecoderRegistry, PodLabels, StaticPodSource, defaultPodScope, findCgroup2MountInfo, runChain, type PodInfo } from "@ebpf-operator/core";
import { log, machine, quick, stat, writeResult, type Stat } from "./common.js";

const PODS = 50;
const CONTAINERS = 2;
/** Churned cgroups per run: the 10,000, and more to show what grows with it and what does not. */
const CHURNS = quick ? [10_000] : [10_000, 40_000];
const BATCH = 100;
const RUNS = quick ? 3 : 5;

export type ChurnVariant = "bounded" | "unbounded";

export interface ChurnSample {
  variant: ChurnVariant;
  churn: number;
  heapBeforeMiB: number;
  heapAfterMiB: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  known: number;
  unknown: number;
  rescans: number;
  churnMs: number;
  /** Lookups that named a pod during the churn (must be 0: no churned cgroup is a listed pod). */
  named: number;
}

export interface ChurnRow {
  variant: ChurnVariant;
  churn: number;
  heapGrowthMiB: Stat;
  rssGrowthMiB: Stat;
  heapAfterMiB: Stat;
  rssAfterMiB: Stat;
  unknown: Stat;
  known: Stat;
  rescans: Stat;
  churnMs: Stat;
}

export interface ChurnResults {
  when: string;
  commit: string;
  quick: boolean;
  machine: ReturnType<typeof machine>;
  pods: number;
  containers: number;
  batch: number;
  runs: number;
  rows: ChurnRow[];
}

const MiB = 1024 * 1024;
const hex = () => randomUUID().replaceAll("-", "");

function measureMemory(): { heap: number; rss: number } {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed / MiB, rss: usage.rss / MiB };
}

function le64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
}

/** One child: lays out the node, warms up, churns, measures; prints its sample as JSON. */
async function child(variant: ChurnVariant, churn: number): Promise<void> {
  if (typeof (globalThis as { gc?: unknown }).gc !== "function") throw new Error("run with --expose-gc");
  const mount = await findCgroup2MountInfo();
  if (!mount) throw new Error("no cgroup v2 hierarchy");
  const top = join(mount.path, `eop-bench-churn-${process.pid}`);
  const made: string[] = [];
  const mk = (dir: string) => {
    mkdirSync(dir);
    made.push(dir);
    return dir;
  };
  try {
    mk(top);
    const besteffort = join(mk(join(top, "kubepods")), "besteffort");
    mk(besteffort);
    const infos: PodInfo[] = [];
    const containerIds: bigint[] = [];
    for (let i = 0; i < PODS; i++) {
      const uid = randomUUID();
      const podDir = mk(join(besteffort, `pod${uid}`));
      for (let c = 0; c < CONTAINERS; c++) containerIds.push(statSync(mk(join(podDir, `${hex()}${hex()}`)), { bigint: true }).ino);
      infos.push({ uid, namespace: `tenant-${i % 10}`, name: `web-${i}`, labels: {}, deleting: false });
    }
    const source = new StaticPodSource(infos);
    const labels = new PodLabels(
      defaultPodScope(source),
      variant === "bounded" ? {} : { negativeMax: Number.POSITIVE_INFINITY, negativeTtlMs: Number.POSITIVE_INFINITY },
    );
    const registry = new DecoderRegistry({ ...CORE_DECODERS, ...Object.fromEntries(labels.decoders().map((d) => [d.name, d])) });
    const namespaceOf = registry.chain([{ name: "uint" }, { name: "cgroup_namespace" }], "namespace");
    const podOf = registry.chain([{ name: "uint" }, { name: "cgroup_pod" }], "pod");
    const decode = (id: bigint) => {
      const key = le64(id);
      return [runChain(namespaceOf, key), runChain(podOf, key)] as const;
    };

    // Warm-up: the node's pods named (the first lookup starts the lookup's first scan).
    decode(containerIds[0]!);
    await labels.identities.refresh();
    for (const id of containerIds) if (typeof decode(id)[1] !== "string") throw new Error(`container cgroup ${id} not named after the warm-up`);
    for (let i = 0; i < 3; i++) measureMemory();
    const before = measureMemory();

    const started = performance.now();
    let named = 0;
    for (let done = 0; done < churn; done += BATCH) {
      const batch: string[] = [];
      for (let i = 0; i < BATCH; i++) {
        // Half named like a pod no API server lists (the walk sees them), half plain cgroups.
        const dir = (done + i) % 2 === 0 ? join(besteffort, `pod${randomUUID()}`) : join(top, `churn-${done + i}`);
        mkdirSync(dir);
        batch.push(dir);
        const [ns, pod] = decode(statSync(dir, { bigint: true }).ino);
        if (typeof ns === "string" || typeof pod === "string") named++;
      }
      for (const dir of batch) rmdirSync(dir);
      // Let the rescans the unknown ids asked for run (a scrape's decoding yields between steps too).
      await new Promise((resolve) => setImmediate(resolve));
    }
    const churnMs = performance.now() - started;
    await labels.identities.refresh();
    for (let i = 0; i < 3; i++) measureMemory();
    const after = measureMemory();
    labels.close();
    const sizes = labels.identities.sizes;
    const sample: ChurnSample = {
      variant,
      churn,
      heapBeforeMiB: before.heap,
      heapAfterMiB: after.heap,
      rssBeforeMiB: before.rss,
      rssAfterMiB: after.rss,
      known: sizes.known,
      unknown: sizes.unknown,
      rescans: labels.identities.rescans,
      churnMs,
      named,
    };
    process.stdout.write(`${JSON.stringify(sample)}\n`);
  } finally {
    for (const dir of made.reverse()) {
      try {
        rmdirSync(dir);
      } catch {
        // reported below if anything is left
      }
    }
  }
}

function runChild(variant: ChurnVariant, churn: number): Promise<ChurnSample> {
  return new Promise((resolve, reject) => {
    const script = fileURLToPath(import.meta.url);
    const proc = spawn(process.execPath, ["--expose-gc", script, "--child", variant, String(churn)], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    proc.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    proc.on("error", reject);
    proc.on("close", (code) => {
      if (code !== 0) return reject(new Error(`churn child (${variant}) exited ${code}`));
      try {
        resolve(JSON.parse(out.trim()) as ChurnSample);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}

async function main(): Promise<void> {
  const samples: ChurnSample[] = [];
  for (let r = 0; r < RUNS; r++) {
    for (const churn of CHURNS) {
      for (const variant of ["bounded", "unbounded"] as const) {
        const sample = await runChild(variant, churn);
        if (sample.named !== 0) throw new Error(`${variant}: ${sample.named} churned cgroups were named as pods`);
        if (sample.known !== PODS * (CONTAINERS + 1)) throw new Error(`${variant}: ${sample.known} known ids, ${PODS * (CONTAINERS + 1)} expected`);
        samples.push(sample);
        log(
          `churn ${churn} run ${r + 1}/${RUNS} ${variant}: heap ${sample.heapBeforeMiB.toFixed(2)} -> ${sample.heapAfterMiB.toFixed(2)} MiB, ` +
            `rss ${sample.rssBeforeMiB.toFixed(1)} -> ${sample.rssAfterMiB.toFixed(1)} MiB, unknown ${sample.unknown}, rescans ${sample.rescans}, ${sample.churnMs.toFixed(0)} ms`,
        );
      }
    }
  }
  const rows: ChurnRow[] = CHURNS.flatMap((churn) =>
    (["bounded", "unbounded"] as const).map((variant) => {
      const of = samples.filter((s) => s.variant === variant && s.churn === churn);
      return {
        variant,
        churn,
        heapGrowthMiB: stat(of.map((s) => s.heapAfterMiB - s.heapBeforeMiB)),
        rssGrowthMiB: stat(of.map((s) => s.rssAfterMiB - s.rssBeforeMiB)),
        heapAfterMiB: stat(of.map((s) => s.heapAfterMiB)),
        rssAfterMiB: stat(of.map((s) => s.rssAfterMiB)),
        unknown: stat(of.map((s) => s.unknown)),
        known: stat(of.map((s) => s.known)),
        rescans: stat(of.map((s) => s.rescans)),
        churnMs: stat(of.map((s) => s.churnMs)),
      };
    }),
  );
  const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  const results: ChurnResults = {
    when: new Date().toISOString(),
    commit,
    quick,
    machine: machine(),
    pods: PODS,
    containers: CONTAINERS,
    batch: BATCH,
    runs: RUNS,
    rows,
  };
  log(`wrote ${writeResult("churn", results)}`);
}

const childAt = process.argv.indexOf("--child");
(childAt !== -1 ? child(process.argv[childAt + 1] as ChurnVariant, Number(process.argv[childAt + 2])) : main()).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
