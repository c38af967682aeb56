/**
 * Remote-write when the receiver misbehaves, against a real Prometheus: down (nothing listens),
 * then up, then hung (SIGSTOP: connections accepted, never answered), then back. Throughout,
 * scraping /metrics keeps working; while the receiver fails, the agent retries with backoff, holds
 * at most its queue bound and counts what it drops; once the receiver is back, samples arrive.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { example } from "../helpers/manifests.js";
import { fetchText, sampleValue } from "../helpers/metrics.js";
import { freePort, startPrometheus, type Prometheus } from "../helpers/prometheus.js";

requireKernelCapabilities();

const MAX_PENDING = 300;

describe("remote-write to a Prometheus that is down, then slow", () => {
  let workspace: AgentWorkspace;
  let agent: AgentProcess;
  let prometheus: Prometheus | undefined;
  let port: number;

  const scrape = async () => {
    const started = Date.now();
    const response = await fetchText(`${agent.url}/metrics`);
    expect(response.status).toBe(200);
    return { body: response.body, ms: Date.now() - started };
  };
  const metric = async (name: string, labels: Record<string, string> = {}) => sampleValue((await scrape()).body, name, labels) ?? 0;

  beforeAll(async () => {
    port = await freePort();
    workspace = createWorkspace("remote-write");
    mkdirSync(workspace.configDir, { recursive: true });
    writeFileSync(join(workspace.configDir, "execve-tracepoint.yaml"), example("execve-tracepoint.yaml"));
    agent = await startAgent(workspace, [
      "--remote-write-url",
      `http://127.0.0.1:${port}/api/v1/write`,
      "--remote-write-interval",
      "500ms",
      "--remote-write-timeout",
      "1s",
      "--remote-write-max-pending-samples",
      String(MAX_PENDING),
      "--remote-write-label",
      "job=rw-test",
    ]);
    await waitFor("execve_counter_total on /metrics", async () => ((await scrape()).body.includes("execve_counter_total{") ? true : undefined));
  });

  afterAll(async () => {
    try {
      if (prometheus) process.kill(prometheus.child.pid!, "SIGCONT");
      await agent?.stop();
      await prometheus?.stop();
    } finally {
      workspace?.cleanup();
    }
  });

  it("keeps serving /metrics while the receiver is down, retries, and drops the oldest samples beyond the bound, counted", async () => {
    await waitFor("drops", async () =>
      (await metric("ebpf_operator_agent_remote_write_dropped_samples_total", { reason: "queue_full" })) > 0 ? true : undefined,
    );
    const { body, ms } = await scrape();
    expect(ms).toBeLessThan(2000);
    const gatherSize = body.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length;
    expect(sampleValue(body, "ebpf_operator_agent_remote_write_pending_samples")).toBeLessThanOrEqual(MAX_PENDING + gatherSize);
    expect(sampleValue(body, "ebpf_operator_agent_remote_write_requests_total", { result: "retry" })).toBeGreaterThan(0);
    expect(sampleValue(body, "ebpf_operator_agent_remote_write_sent_samples_total")).toBe(0);
    expect(agent.logs.filter((l) => l.msg === "remote-write failing; retrying with backoff")).toHaveLength(1);
  });

  it("delivers once Prometheus comes up on that port: samples are queryable", async () => {
    prometheus = await startPrometheus({ remoteWriteReceiver: true, port });
    const series = await prometheus.waitFor('execve_counter_total{job="rw-test"}', (r) => r.length === 1, 45_000);
    expect(series[0]!.metric).toMatchObject({ namespace: "default", ebpfmap: "execve-tracepoint", job: "rw-test" });
    expect(await metric("ebpf_operator_agent_remote_write_sent_samples_total")).toBeGreaterThan(0);
    await waitFor("the recovery log line", async () => (agent.logs.some((l) => l.msg === "remote-write recovered") ? true : undefined));
  });

  it("times out and retries while Prometheus hangs, scraping unaffected, and catches up when it resumes", async () => {
    const pid = prometheus!.child.pid!;
    const retriesBefore = await metric("ebpf_operator_agent_remote_write_requests_total", { result: "retry" });
    process.kill(pid, "SIGSTOP");
    try {
      await waitFor("timed-out requests", async () =>
        (await metric("ebpf_operator_agent_remote_write_requests_total", { result: "retry" })) > retriesBefore ? true : undefined,
      );
      expect((await scrape()).ms).toBeLessThan(2000);
      expect(await metric("ebpf_operator_agent_remote_write_pending_samples")).toBeGreaterThan(0);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    const resumedS = Date.now() / 1000;
    await prometheus!.waitFor(`timestamp(execve_counter_total{job="rw-test"}) > ${resumedS}`, (r) => r.length === 1, 45_000);
  });
});
