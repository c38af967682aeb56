/**
 * A real Prometheus (Debian's /usr/bin/prometheus) for end-to-end tests: its own loopback port,
 * config and data directory, so it neither needs nor disturbs a system Prometheus service the
 * package may have started. Scrape targets come from a file_sd directory the test writes to
 * (`addTarget`), so Prometheus can start before the agent whose port it scrapes. Stopped by
 * `stop()`, and killed on process exit if a test forgot (or crashed before) that.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const PROMETHEUS_BIN = "/usr/bin/prometheus";

export interface PrometheusOptions {
  /** Default 1s: tests wait for a handful of scrapes, not minutes. */
  scrapeInterval?: string;
  /** `--web.enable-remote-write-receiver` (POST /api/v1/write). */
  remoteWriteReceiver?: boolean;
  /** A fixed port (e.g. to come back on the same one after `stop`); default a free one. */
  port?: number;
  /**
   * Scrape configs of their own (YAML list items, indented by two spaces), instead of the
   * default file_sd job; `{dir}` in them is replaced by this instance's directory.
   */
  scrapeConfigs?: string;
  /** Files to write into the instance's directory before it starts (tokens, CA bundles). */
  files?: Record<string, string>;
}

export interface PromSeries {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

export interface Prometheus {
  url: string;
  port: number;
  /** POST target of remote-write when the receiver is enabled. */
  remoteWriteUrl: string;
  child: ChildProcess;
  /** Scrape `host:port` as `job` (honor_labels: true, as the ServiceMonitor recommends). */
  addTarget(target: string, job?: string): void;
  /** Instant query; the result as series (a scalar becomes one series without labels). */
  query(expr: string): Promise<PromSeries[]>;
  queryRange(expr: string, startS: number, endS: number, stepS: number): Promise<PromSeries[]>;
  /** Values of a label among series matching `match`. */
  labelValues(label: string, match: string): Promise<string[]>;
  /** Polls `expr` until `accept` says yes; resolves with that result. */
  waitFor(expr: string, accept: (result: PromSeries[]) => boolean, timeoutMs?: number): Promise<PromSeries[]>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Started and not yet stopped: child -> its directory. */
const running = new Map<ChildProcess, string>();
process.once("exit", () => {
  for (const [child, dir] of running) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

export async function startPrometheus(options: PrometheusOptions = {}): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), "eop-prometheus-"));
  const port = options.port ?? (await freePort());
  const interval = options.scrapeInterval ?? "1s";
  writeFileSync(
    join(dir, "prometheus.yml"),
    `global:
  scrape_interval: ${interval}
  scrape_timeout: ${interval}
  evaluation_interval: ${interval}
scrape_configs:
${
  options.scrapeConfigs?.replaceAll("{dir}", dir) ??
  `  - job_name: ebpf-agent
    honor_labels: true
    file_sd_configs:
      - files: ["${dir}/targets/*.json"]
        refresh_interval: 1s
`
}`,
  );
  for (const [name, content] of Object.entries(options.files ?? {})) writeFileSync(join(dir, name), content, { mode: 0o600 });
  const targetsDir = join(dir, "targets");
  mkdirSync(targetsDir);
  const args = [
    `--config.file=${join(dir, "prometheus.yml")}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--storage.tsdb.retention.time=1h",
    "--log.level=warn",
    ...(options.remoteWriteReceiver ? ["--web.enable-remote-write-receiver"] : []),
  ];
  const child = spawn(PROMETHEUS_BIN, args, { stdio: ["ignore", "ignore", "pipe"] });
  running.set(child, dir);
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    running.delete(child);
    // The data dir lives in `dir`: nothing of this instance is left behind.
    rmSync(dir, { recursive: true, force: true });
  };

  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${url}${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`Prometheus ${path}: ${body.error ?? response.status}`);
    return body.data;
  };
  const asSeries = (data: { resultType: string; result: unknown }): PromSeries[] =>
    data.resultType === "scalar" || data.resultType === "string" ? [{ metric: {}, value: data.result as [number, string] }] : (data.result as PromSeries[]);

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${stderr}`);
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  const prometheus: Prometheus = {
    url,
    port,
    remoteWriteUrl: `${url}/api/v1/write`,
    child,
    addTarget: (target, job = "ebpf-agent") => {
      const file = join(targetsDir, `${target.replace(/[^a-zA-Z0-9]/g, "_")}.json`);
      writeFileSync(`${file}.tmp`, JSON.stringify([{ targets: [target], labels: { job } }]));
      // Renamed into place: file_sd never reads a half-written file.
      renameSync(`${file}.tmp`, file);
    },
    query: async (expr) => asSeries(await api(`/api/v1/query?query=${encodeURIComponent(expr)}`)),
    queryRange: async (expr, startS, endS, stepS) =>
      asSeries(await api(`/api/v1/query_range?query=${encodeURIComponent(expr)}&start=${startS}&end=${endS}&step=${stepS}`)),
    labelValues: (label, match) => api(`/api/v1/label/${encodeURIComponent(label)}/values?match[]=${encodeURIComponent(match)}`),
    waitFor: async (expr, accept, timeoutMs = 30_000) => {
      const until = Date.now() + timeoutMs;
      let last: PromSeries[] | string = [];
      for (;;) {
        try {
          const result = await prometheus.query(expr);
          if (accept(result)) return result;
          last = result;
        } catch (error) {
          last = String(error);
        }
        if (Date.now() > until) throw new Error(`timed out waiting on PromQL ${expr}; last result: ${JSON.stringify(last).slice(0, 1000)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    },
    stop,
  };
  return prometheus;
}
