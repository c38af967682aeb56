/**
 * The operator at scale: its own control plane (etcd + kube-apiserver, test/helpers/kube), one
 * Node object, no agent. N EbpfMaps are created through the API; the bench waits until every
 * one is compiled and reported (status.object set, Ready=False reason NodesNotReady, ready
 * "0/1"). Two scenarios, each on a fresh control plane with a fresh operator and compile cache:
 * every EbpfMap with identical code (one compile: objects are content-addressed), and a mix of
 * distinct programs shared by several EbpfMaps each. Measures the time to all reported, the
 * operator's RSS, and the API requests it made: from the API server's audit log (every request
 * with its user agent, at RequestReceived) and apiserver_request_total before/after.
 * The compiler runs as the deployment runs it (deploy/: `ebpf-operator compile-server` beside the
 * operator, over a Unix socket), so clang's forks come from the compile server, not from the
 * operator's heap; a scenario name ending in `-in-process` runs the operator's in-process compiler
 * instead (development and tests), measured in the same run as the baseline of that shape.
 * Writes bench/results/operator.json.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { COUNTER_CODE, tracepointManifest } from "../../test/helpers/manifests.js";
import { startControlPlane, type ControlPlane } from "../../test/helpers/kube/control-plane.js";
import { startLoggedProcess } from "../../test/helpers/node-process.js";
import { log, machine, memoryOf, operatorCli, quick, repoRoot, sleep, stat, writeResult } from "./common.js";

// EOP_BENCH_OPERATOR_MAPS / _SCENARIOS / _NODE_ARGS: fewer EbpfMaps, some scenarios, and node
// flags for the operator and the compile server (e.g. "--cpu-prof --cpu-prof-dir=/tmp/eop-prof")
// while iterating. For an A/B in one run: EOP_BENCH_OPERATOR_CLI, another build's CLI (e.g. main's
// dist copied aside) for the operator and the compile server; EOP_BENCH_OPERATOR_RUN_ARGS, extra
// flags for `run` (e.g. "--compile-requests-per-namespace=3").
const TOTAL = Number(process.env.EOP_BENCH_OPERATOR_MAPS ?? (quick ? 200 : 1000));
const DISTINCT = Math.max(1, Math.round(TOTAL / 10));
const SCENARIOS = (
  process.env.EOP_BENCH_OPERATOR_SCENARIOS ?? (quick ? "identical,mixed,distinct-in-process" : "identical,mixed,distinct,distinct-in-process")
).split(",");
const OPERATOR_NODE_ARGS = (process.env.EOP_BENCH_OPERATOR_NODE_ARGS ?? "").split(" ").filter(Boolean);
const OPERATOR_RUN_ARGS = (process.env.EOP_BENCH_OPERATOR_RUN_ARGS ?? "").split(" ").filter(Boolean);
const CLI = process.env.EOP_BENCH_OPERATOR_CLI ?? operatorCli;
const NS = "eop-bench";
const OPERATOR_NS = "eop-bench-system";
const BENCH_POLICY = {
  apiVersion: "observability.cloud/v1",
  kind: "EbpfTenancyPolicy",
  metadata: { name: "eop-bench" },
  spec: {
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": NS } },
    targetScopes: ["pod", "node"],
    nodeScopeProgramTypes: ["tracepoint"],
    quotas: { ebpfMaps: TOTAL },
  },
};
const NODE = "eop-bench-node";

export interface OperatorRow {
  scenario: "identical" | "mixed" | "distinct";
  /**
   * `server`: `ebpf-operator compile-server` beside the operator, as deployed (deploy/);
   * `in-process`: the operator's own compiler (no --compiler-socket). Absent in older results: in-process.
   */
  compiler?: "server" | "in-process";
  /** The compile server's CPU seconds and RSS peak over the same window (server only). */
  compileServer?: { cpuSeconds: number; rssPeakMiB: number };
  resources: number;
  distinctPrograms: number;
  createMs: number;
  /** From the first create to every EbpfMap compiled and reported 0/1. */
  allReportedMs: number;
  rssMiB: { peak: number; end: number };
  cpuSeconds: number;
  requests: { operator: number; byVerb: Record<string, number>; bench: number; total: number; apiserverRequestTotalDelta: number };
  userAgent: string;
  configMaps: number;
  /** From the operator's "compiled and published" log lines: one per EbpfMap that took a compile's outcome. */
  compiles: CompileSummary;
}

export interface CompileSummary {
  /** Outcomes that ran clang (cache misses) and that came from the cache. */
  compiled: number;
  cached: number;
  /** Median (min–max) ms of a cache miss, from the compile request to its end, queueing excluded. */
  missMs: { median: number; min: number; max: number };
  /** Median and max ms the outcomes waited in the compiler's fair queue. */
  queueWaitMs: { median: number; max: number };
  /**
   * Median wall ms of a miss's two clang runs (spawn to exit, sandbox set-up included); the rest
   * of a miss is the compiler's own work (checks, hashing, cache writes) and the event loop.
   */
  clangRunMs?: { preprocess: number; compile: number };
}

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["ResponseStarted", "ResponseComplete", "Panic"]
rules:
  - level: Metadata
`;

interface AuditEvent {
  verb: string;
  userAgent?: string;
  requestURI: string;
}

function ebpfMap(index: number, distinct: number): string {
  const program = distinct === 1 ? 0 : index % distinct;
  const map = `count_${program}`;
  const code = COUNTER_CODE.replaceAll("execve_count", map);
  const text = tracepointManifest({ name: `m-${index}`, namespace: NS, metric: `bench-op-${index}`, map, code });
  return text;
}

async function apiserverRequestTotal(cp: ControlPlane): Promise<number> {
  const metrics = await cp.request("GET", "/metrics");
  let sum = 0;
  for (const line of metrics.body.split("\n")) if (line.startsWith("apiserver_request_total{")) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  return sum;
}

async function scenario(name: OperatorRow["scenario"], distinct: number, compiler: "server" | "in-process"): Promise<OperatorRow> {
  const work = mkdtempSync(join(tmpdir(), "eop-bench-operator-"));
  const policy = join(work, "audit-policy.yaml");
  const auditLog = join(work, "audit.log");
  writeFileSync(policy, AUDIT_POLICY);
  const cp = await startControlPlane({
    binDir: process.env.EOP_TEST_KUBE_BIN ?? join(repoRoot, ".cache/kube-testenv/bin"),
    extraApiServerFlags: [`--audit-policy-file=${policy}`, `--audit-log-path=${auditLog}`, "--audit-log-format=json", "--audit-log-mode=batch"],
  });
  let operator: Awaited<ReturnType<typeof startLoggedProcess>> | undefined;
  let compileServer: Awaited<ReturnType<typeof startLoggedProcess>> | undefined;
  try {
    await cp.kubectlOk(["apply", "-f", join(repoRoot, "deploy/crds")]);
    await cp.kubectlOk([
      "wait",
      "--for",
      "condition=established",
      "crd/ebpfmaps.observability.cloud",
      "crd/ebpfmapnodestatuses.observability.cloud",
      "crd/ebpftenancypolicies.observability.cloud",
      "--timeout=60s",
    ]);
    for (const ns of [OPERATOR_NS, NS]) await cp.kubectlOk(["create", "namespace", ns]);
    // The bench namespace runs TOTAL node-wide tracepoint counters: more than the default policy's
    // quota of EbpfMaps per namespace (and than the kernel-wide namespace label grants).
    await cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify(BENCH_POLICY) });
    await cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: NODE } }) });

    const cache = join(work, "cache");
    const socket = join(work, "compiler.sock");
    if (compiler === "server") {
      // The deployment's compiler container, with the chart's compile flags (deploy/manifests).
      compileServer = await startLoggedProcess(
        [
          ...OPERATOR_NODE_ARGS,
          CLI,
          "compile-server",
          "--socket",
          socket,
          "--listen",
          "127.0.0.1:0",
          "--cache-dir",
          join(work, "compiler-cache"),
          "--concurrency=2",
          "--per-namespace-concurrency=1",
          "--memory-limit=320Mi",
          "--tmp-size=8Mi",
          "--timeout=30",
          "--cache-max-size=256Mi",
          "--max-object-size=1000000",
          "--log-level",
          "info",
        ],
        "compile server listening",
        120_000,
      );
    }
    operator = await startLoggedProcess(
      [
        ...OPERATOR_NODE_ARGS,
        CLI,
        "run",
        ...OPERATOR_RUN_ARGS,
        "--kubeconfig",
        cp.kubeconfig,
        "--namespace",
        OPERATOR_NS,
        "--listen",
        "127.0.0.1:0",
        "--cache-dir",
        cache,
        "--no-leader-elect",
        ...(compiler === "server" ? ["--compiler-socket", socket] : []),
        "--log-level",
        "info",
      ],
      "operator listening",
    );
    const pid = operator.child.pid!;
    const serverPid = compileServer?.child.pid;
    await sleep(2000);
    const auditStart = readFileSync(auditLog, "utf8").length;
    const requestsBefore = await apiserverRequestTotal(cp);
    const cpu0 = cpuOf(pid);
    const serverCpu0 = serverPid === undefined ? 0 : cpuOf(serverPid);
    let serverPeak = 0;

    // Created through the API, 16 at a time (kubectl would cost a process per object).
    const t0 = performance.now();
    const bodies = Array.from({ length: TOTAL }, (_, i) => JSON.stringify(parseYaml(ebpfMap(i, distinct))));
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++]!;
          const r = await cp.request("POST", `/apis/observability.cloud/v1/namespaces/${NS}/ebpfmaps`, body);
          if (r.status !== 201) throw new Error(`create: ${r.status} ${r.body.slice(0, 500)}`);
        }
      }),
    );
    const createMs = performance.now() - t0;

    let peak = 0;
    let allReportedMs = NaN;
    for (;;) {
      peak = Math.max(peak, memoryOf(pid).rssMiB);
      if (serverPid !== undefined) serverPeak = Math.max(serverPeak, memoryOf(serverPid).rssMiB);
      const list = JSON.parse((await cp.request("GET", `/apis/observability.cloud/v1/namespaces/${NS}/ebpfmaps`)).body) as {
        items: { status?: { object?: unknown; ready?: string; conditions?: { type: string; status: string; reason: string }[] } }[];
      };
      const done = list.items.filter(
        (m) =>
          m.status?.object &&
          m.status.ready === "0/1" &&
          m.status.conditions?.some((c) => c.type === "Ready" && c.status === "False" && c.reason === "NodesNotReady"),
      ).length;
      if (done === TOTAL) {
        allReportedMs = performance.now() - t0;
        break;
      }
      if (performance.now() - t0 > 900_000) throw new Error(`${name}: only ${done}/${TOTAL} reported after 15 min`);
      await sleep(500);
    }
    // Let trailing requests (status patches, events) land before counting.
    await sleep(3000);
    const requestsAfter = await apiserverRequestTotal(cp);
    const cpuSeconds = cpuOf(pid) - cpu0;
    const end = memoryOf(pid);
    const server =
      serverPid === undefined ? undefined : { cpuSeconds: cpuOf(serverPid) - serverCpu0, rssPeakMiB: Math.max(serverPeak, memoryOf(serverPid).hwmMiB) };
    const configMaps = (
      JSON.parse((await cp.request("GET", `/api/v1/namespaces/${OPERATOR_NS}/configmaps`)).body) as { items: { metadata: { name: string } }[] }
    ).items.filter((c) => c.metadata.name.startsWith("ebpf-object-")).length;
    const logs = operator.logs;
    await operator.stop();
    operator = undefined;
    await compileServer?.stop();
    compileServer = undefined;
    await sleep(1500); // batch audit backend flushes every second

    const events = readFileSync(auditLog, "utf8")
      .slice(auditStart)
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditEvent);
    const agents = new Map<string, number>();
    for (const e of events) agents.set(e.userAgent ?? "", (agents.get(e.userAgent ?? "") ?? 0) + 1);
    // The bench's requests are node's https without a User-Agent; kubectl's say kubectl.
    // The operator is the client that patches EbpfMaps (the finalizer, the status): nothing else
    // here does. The API server's own loopback client (kube-testenv/...) and kubectl are others.
    const operatorAgent = events.find((e) => e.verb === "patch" && resourceOf(e.requestURI).startsWith("ebpfmaps"))?.userAgent ?? "";
    if (!operatorAgent) throw new Error(`${name}: no client patched an EbpfMap: the operator's requests cannot be told apart`);
    const byVerb: Record<string, number> = {};
    for (const e of events)
      if ((e.userAgent ?? "") === operatorAgent) byVerb[`${e.verb} ${resourceOf(e.requestURI)}`] = (byVerb[`${e.verb} ${resourceOf(e.requestURI)}`] ?? 0) + 1;
    const row: OperatorRow = {
      scenario: name,
      compiler,
      ...(server ? { compileServer: server } : {}),
      resources: TOTAL,
      distinctPrograms: distinct,
      createMs,
      allReportedMs,
      rssMiB: { peak: Math.max(peak, end.hwmMiB), end: end.rssMiB },
      cpuSeconds,
      requests: {
        operator: agents.get(operatorAgent) ?? 0,
        byVerb,
        bench: agents.get("") ?? 0,
        total: events.length,
        apiserverRequestTotalDelta: requestsAfter - requestsBefore,
      },
      userAgent: operatorAgent,
      configMaps,
      compiles: compileSummary(logs),
    };
    log(
      `operator ${name} (compiler ${compiler}${server ? `: CPU ${server.cpuSeconds.toFixed(1)} s, RSS peak ${server.rssPeakMiB.toFixed(0)} MiB` : ""}): ${TOTAL} EbpfMaps (${distinct} programs) reported in ${(allReportedMs / 1000).toFixed(1)} s, CPU ${cpuSeconds.toFixed(1)} s, RSS peak ${row.rssMiB.peak.toFixed(0)} MiB, ${row.requests.operator} operator requests (${operatorAgent}); compiles ${JSON.stringify(row.compiles)}`,
    );
    return row;
  } finally {
    await operator?.stop();
    await compileServer?.stop();
    await cp.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function compileSummary(logs: Record<string, unknown>[]): CompileSummary {
  const published = logs.filter((l) => l.msg === "compiled and published");
  const misses = stat(published.filter((l) => l.cached === false).map((l) => Number(l.durationMs) - Number(l.queueWaitMs)));
  const waits = stat(published.map((l) => Number(l.queueWaitMs)));
  const runs = published.map((l) => l.clangRunsMs as { preprocess?: number; compile?: number } | undefined).filter((r) => r?.compile !== undefined);
  return {
    compiled: misses.n,
    cached: published.length - misses.n,
    missMs: { median: misses.median, min: misses.min, max: misses.max },
    queueWaitMs: { median: waits.median, max: waits.max },
    ...(runs.length
      ? { clangRunMs: { preprocess: stat(runs.map((r) => Number(r!.preprocess))).median, compile: stat(runs.map((r) => Number(r!.compile))).median } }
      : {}),
  };
}

function cpuOf(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** `POST ebpfmaps`, `PATCH ebpfmaps/status`, … from a request URI. */
function resourceOf(uri: string): string {
  const path = uri.split("?")[0]!.split("/").filter(Boolean);
  const ns = path.indexOf("namespaces");
  const rest = ns >= 0 && path.length > ns + 2 ? path.slice(ns + 2) : path.slice(path[0] === "api" ? 2 : 3);
  const resource = rest[0] ?? "";
  const sub = rest[2] ? `/${rest[2]}` : "";
  const watch = uri.includes("watch=true") ? " (watch)" : "";
  return `${resource}${sub}${watch}`;
}

async function main(): Promise<void> {
  const rows: OperatorRow[] = [];
  const distinctOf = { identical: 1, mixed: DISTINCT, distinct: TOTAL } as const;
  for (const name of SCENARIOS) {
    const inProcess = name.endsWith("-in-process");
    const base = inProcess ? name.slice(0, -"-in-process".length) : name;
    if (!(base in distinctOf))
      throw new Error(`EOP_BENCH_OPERATOR_SCENARIOS: unknown scenario ${JSON.stringify(name)} (identical, mixed, distinct, each optionally with -in-process)`);
    const which = base as keyof typeof distinctOf;
    rows.push(await scenario(which, distinctOf[which], inProcess ? "in-process" : "server"));
  }
  log(`wrote ${writeResult("operator", { when: new Date().toISOString(), quick, machine: machine(), rows })}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
