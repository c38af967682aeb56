/**
 * What authentication adds to a scrape. One process, one metric registry (rows in memory, so the
 * map reads, equal in every case, do not blur the difference), served four ways in the same run:
 *
 *   plain        HTTP, no access control (the standalone agent's default): the baseline
 *   tls          HTTPS, no access control: what TLS alone costs
 *   auth-cached  HTTPS + bearer token, decisions cached (what a scraper that comes back sees)
 *   auth-miss    HTTPS + a token never seen before on every scrape: one TokenReview and one
 *                SubjectAccessReview against a real kube-apiserver on this machine
 *
 * Scrapes reuse one keep-alive connection (as Prometheus does) except in `auth-miss`, where
 * each fresh token gets a fresh connection too. The review calls per scrape are read from the
 * access control's own counters. Writes bench/results/auth.json.
 */
import { execFileSync } from "node:child_process";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { request as httpRequest, Agent as HttpAgent } from "node:http";
import { KubeConfig } from "@kubernetes/client-node";
import { ComputedFamily, MetricRegistry, createLogger, startHttpServer, type AccessControl, type Row } from "@ebpf-operator/core";
import { KubeAccessControl, agentAttributes } from "@ebpf-operator/operator";
import { Registry } from "prom-client";
import { startControlPlane } from "../../test/helpers/kube/control-plane.js";
import { issueServingCertificateForBench } from "./auth-certs.js";
import { log, machine, quick, repoRoot, stat, writeResult, type Stat } from "./common.js";

const SERIES = quick ? [1000] : [1000, 10_000];
const SCRAPES = quick ? 100 : 300;
const MISSES = quick ? 10 : 30;
const RUNS = quick ? 3 : 5;
const NS = "eop-bench-auth";

export interface AuthRow {
  series: number;
  mode: "plain" | "tls" | "auth-cached" | "auth-miss";
  /** Per-scrape wall time (ms): the median of each run, then their spread over the runs. */
  scrapeMs: Stat;
  reviewsPerScrape: number;
}

function registryOf(series: number): MetricRegistry {
  const registry = new MetricRegistry();
  const rows: Row[] = Array.from({ length: series }, (_, i) => ({
    name: "bench_auth_total",
    namespace: i % 2 ? "team-a" : "team-b",
    labels: { namespace: i % 2 ? "team-a" : "team-b", ebpfmap: "m", key: String(i) },
    value: i,
  }));
  registry.register(new ComputedFamily("bench_auth_total", "rows", "counter", () => rows));
  return registry;
}

function get(url: string, options: { agent?: Agent | HttpAgent; ca?: string; token?: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const plain = url.startsWith("http:");
    const req = (plain ? httpRequest : request)(
      url,
      {
        agent: options.agent,
        ...(!plain && { ca: options.ca, servername: "localhost" }),
        headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode}`));
          else resolve(Number(process.hrtime.bigint() - started) / 1e6);
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  // The bin dir from the repository root (bundled, the helper's own default would resolve from bench/dist).
  const cp = await startControlPlane({ binDir: process.env.EOP_TEST_KUBE_BIN ?? join(repoRoot, ".cache/kube-testenv/bin") });
  const rows: AuthRow[] = [];
  try {
    await cp.kubectlOk(["create", "namespace", NS]);
    // As the install's metrics-reader role grants it (kubectl create clusterrole would want the CRD served).
    const role = { apiGroups: ["observability.cloud"], resources: ["ebpfmaps/metrics"], verbs: ["get"] };
    const clusterRole = { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "eop-bench-reader" }, rules: [role] };
    await cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify(clusterRole) });
    await cp.kubectlOk(["create", "serviceaccount", "reader", "-n", NS]);
    await cp.kubectlOk(["create", "clusterrolebinding", "eop-bench-reader", "--clusterrole=eop-bench-reader", `--serviceaccount=${NS}:reader`]);
    const token = async () => (await cp.kubectlOk(["create", "token", "reader", "-n", NS, "--duration=1h"])).trim();
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cp.kubeconfig);
    const { ca, leaf } = await issueServingCertificateForBench();
    const logger = createLogger({ level: "silent" });

    for (const series of SERIES) {
      const registry = registryOf(series);
      const promRegistry = new Registry();
      const access = new KubeAccessControl({ kubeConfig, attributes: agentAttributes, metricPrefix: "bench_", logger });
      access.register(promRegistry);
      const reviews = async () => (await promRegistry.getSingleMetric("bench_http_access_reviews_total")!.get()).values.reduce((sum, v) => sum + v.value, 0);
      const serve = (tls: boolean, control?: AccessControl) =>
        startHttpServer(
          { host: "127.0.0.1", port: 0 },
          { metrics: (scope) => registry.read(scope), ready: () => true, logger, ...(tls && { tls: leaf }), ...(control && { access: control }) },
        );
      const servers = { plain: await serve(false), tls: await serve(true), auth: await serve(true, access) };
      const cachedToken = await token();
      const missTokens = await Promise.all(Array.from({ length: MISSES * RUNS }, () => token()));
      try {
        for (const mode of ["plain", "tls", "auth-cached", "auth-miss"] as const) {
          const medians: number[] = [];
          const reviewsBefore = await reviews();
          let scrapes = 0;
          for (let run = 0; run < RUNS; run++) {
            const times: number[] = [];
            if (mode === "auth-miss") {
              for (let i = 0; i < MISSES; i++) {
                const agent = new Agent({ keepAlive: false });
                times.push(await get(`${servers.auth.url}/metrics`, { agent, ca, token: missTokens[run * MISSES + i]! }));
                agent.destroy();
              }
            } else {
              const url = mode === "plain" ? servers.plain.url : mode === "tls" ? servers.tls.url : servers.auth.url;
              const agent = mode === "plain" ? new HttpAgent({ keepAlive: true, maxSockets: 1 }) : new Agent({ keepAlive: true, maxSockets: 1 });
              const options = { agent, ca, ...(mode === "auth-cached" && { token: cachedToken }) };
              for (let i = 0; i < 10; i++) await get(`${url}/metrics`, options); // warm: connection, JIT, cache
              for (let i = 0; i < SCRAPES; i++) times.push(await get(`${url}/metrics`, options));
              agent.destroy();
            }
            scrapes += times.length;
            medians.push(median(times));
          }
          const row: AuthRow = { series, mode, scrapeMs: stat(medians), reviewsPerScrape: ((await reviews()) - reviewsBefore) / scrapes };
          rows.push(row);
          log(`auth: ${series} series, ${mode}: median ${row.scrapeMs.median.toFixed(3)} ms, ${row.reviewsPerScrape.toFixed(3)} reviews/scrape`);
        }
      } finally {
        for (const server of Object.values(servers)) await server.close();
      }
    }
  } finally {
    await cp.stop();
  }
  const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  writeResult("auth", { when: new Date().toISOString(), commit, quick, machine: machine(), runs: RUNS, scrapes: SCRAPES, misses: MISSES, rows });
}

await main();
