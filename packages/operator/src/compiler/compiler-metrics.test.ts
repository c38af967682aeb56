// The compile server's families on the operator's /metrics: a real prom-client registry served
// over a real Unix socket as the compile server serves it (GET /v1/metrics), read by
// RemoteObjectCompiler and rendered by the real HTTP server. The clang side is not involved.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Counter, Gauge, Registry } from "prom-client";
import { CompileMetrics, MetricRegistry, createLogger, startHttpServer, type RunningHttpServer } from "@ebpf-operator/core";
import { fetchText, sampleValue } from "../../../../test/helpers/metrics.js";
import { withCompilerMetrics } from "./compiler-metrics.js";
import { METRICS_PATH } from "./protocol.js";
import { RemoteObjectCompiler } from "./remote-compiler.js";

let dir: string;
let socket: string;
let compileServer: Server | undefined;
let operatorHttp: RunningHttpServer;
const compilerRegistry = new Registry();
const compileMetrics = new CompileMetrics(compilerRegistry);

function serveCompilerMetrics(): Promise<void> {
  compileServer = createServer((req, res) => {
    if (req.url !== METRICS_PATH) return void res.writeHead(404).end();
    void compilerRegistry.getMetricsAsJSON().then((families) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(families)));
  });
  return new Promise((resolve) => compileServer!.listen(socket, resolve));
}

function stopCompilerMetrics(): Promise<void> {
  return new Promise((resolve) => compileServer!.close(() => resolve()));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), `eop-compiler-metrics-${process.pid}-`));
  socket = join(dir, "compiler.sock");
  await serveCompilerMetrics();
  const operatorRegistry = new Registry();
  new Counter({ name: "ebpf_operator_controller_reconciles_total", help: "x", registers: [operatorRegistry] }).inc(3);
  const families = new MetricRegistry(operatorRegistry);
  const up = new Gauge({ name: "ebpf_operator_compile_server_up", help: "x", registers: [operatorRegistry] });
  operatorHttp = await startHttpServer(
    { host: "127.0.0.1", port: 0 },
    {
      metrics: withCompilerMetrics(families, new RemoteObjectCompiler(socket), up, createLogger({ level: "silent" })),
      ready: () => true,
      logger: createLogger({ level: "silent" }),
    },
  );
});

afterAll(async () => {
  await operatorHttp.close();
  if (compileServer?.listening) await stopCompilerMetrics();
  rmSync(dir, { recursive: true, force: true });
});

describe("the compile server's metrics served by the operator", () => {
  it("serves the compile families (counters, histograms, labelled gauges) beside the operator's own", async () => {
    compileMetrics.setSandbox({ mode: "bwrap" });
    compileMetrics.observe("compiled", 0.3);
    compileMetrics.observe("cached", 0.001);
    compileMetrics.observe("failed", 2, "EOP_ERR_COMPILE_MEMORY_LIMIT");
    compileMetrics.queueWait.observe(0.02);
    const { status, body } = await fetchText(`${operatorHttp.url}/metrics`);
    expect(status).toBe(200);
    expect(sampleValue(body, "ebpf_operator_controller_reconciles_total")).toBe(3);
    expect(sampleValue(body, "ebpf_operator_compile_server_up")).toBe(1);
    expect(sampleValue(body, "ebpf_operator_compile_requests_total", { result: "compiled" })).toBe(1);
    expect(sampleValue(body, "ebpf_operator_compile_cache_hits_total")).toBe(1);
    expect(sampleValue(body, "ebpf_operator_compile_failures_total", { reason: "memory_limit" })).toBe(1);
    expect(sampleValue(body, "ebpf_operator_compile_sandbox", { mode: "bwrap" })).toBe(1);
    expect(sampleValue(body, "ebpf_operator_compile_queue_wait_seconds_count")).toBe(1);
    expect(sampleValue(body, "ebpf_operator_compile_queue_wait_seconds_bucket", { le: "0.1" })).toBe(1);
    expect(sampleValue(body, "ebpf_operator_compile_queue_wait_seconds_bucket", { le: "0.01" })).toBe(0);
    expect(body).toContain("# TYPE ebpf_operator_compile_duration_seconds histogram");
    // One family per name: nothing the operator serves twice.
    const types = body.split("\n").filter((l) => l.startsWith("# TYPE "));
    expect(new Set(types).size).toBe(types.length);
  });

  it("a compile server that does not answer costs the scrape its families only, and says so in _up", async () => {
    await stopCompilerMetrics();
    const { status, body } = await fetchText(`${operatorHttp.url}/metrics`);
    expect(status).toBe(200);
    expect(sampleValue(body, "ebpf_operator_compile_server_up")).toBe(0);
    expect(sampleValue(body, "ebpf_operator_controller_reconciles_total")).toBe(3);
    expect(body).not.toContain("ebpf_operator_compile_requests_total");
    await serveCompilerMetrics();
    expect(sampleValue((await fetchText(`${operatorHttp.url}/metrics`)).body, "ebpf_operator_compile_server_up")).toBe(1);
  });
});
