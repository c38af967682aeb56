import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { createRemoteWriteMetrics, type RemoteWriteMetrics } from "./remote-write-metrics.js";
import { RemoteWriter, type RemoteWriteSettings } from "./remote-write.js";
import { decodeWriteRequest, type TimeSeries } from "./write-request.js";

interface Received {
  headers: IncomingHttpHeaders;
  series: TimeSeries[];
}

/** A receiver answering each request with the next status of `statuses` (then 204), optionally after a delay. */
async function receiver(statuses: number[] = [], delayMs = 0): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      received.push({ headers: request.headers, series: decodeWriteRequest(Buffer.concat(chunks)) });
      setTimeout(() => response.writeHead(statuses.shift() ?? 204).end("answer"), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write`, received, server };
}

const series = (n: number, value = 1): TimeSeries[] =>
  Array.from({ length: n }, (_, i) => ({ labels: { __name__: "m", i: String(i) }, samples: [{ value, timestampMs: Date.now() }] }));
const value = async (metrics: RemoteWriteMetrics, name: keyof RemoteWriteMetrics, labels: Record<string, string> = {}) =>
  (await metrics[name].get()).values.find((v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l))?.value ?? 0;

describe("remote-write", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  function writer(settings: RemoteWriteSettings, gather: () => Promise<TimeSeries[]>) {
    const metrics = createRemoteWriteMetrics(new Registry());
    const w = new RemoteWriter({ intervalMs: 3_600_000, minBackoffMs: 20, maxBackoffMs: 80, ...settings }, gather, metrics, createLogger({ level: "silent" }));
    cleanups.push(() => w.stop());
    return { w, metrics };
  }

  async function until(check: () => Promise<boolean> | boolean, ms = 5000) {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error("condition not met in time");
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it("sends the gathered series with the remote-write 1.0 headers", async () => {
    const rx = await receiver();
    cleanups.push(() => void rx.server.close());
    const { w, metrics } = writer({ url: rx.url }, async () => series(3));
    await w.tick();
    await until(async () => (await value(metrics, "sentSamples")) === 3);
    expect(rx.received[0]!.headers).toMatchObject({
      "content-encoding": "snappy",
      "content-type": "application/x-protobuf",
      "x-prometheus-remote-write-version": "0.1.0",
    });
    expect(rx.received[0]!.series.map((s) => s.labels.i)).toEqual(["0", "1", "2"]);
    expect(await value(metrics, "lastSuccess")).toBeGreaterThan(0);
  });

  it("splits a large gather into requests of maxSamplesPerRequest", async () => {
    const rx = await receiver();
    cleanups.push(() => void rx.server.close());
    const { w, metrics } = writer({ url: rx.url, maxSamplesPerRequest: 2 }, async () => series(5));
    await w.tick();
    await until(async () => (await value(metrics, "sentSamples")) === 5);
    expect(rx.received.map((r) => r.series.length)).toEqual([2, 2, 1]);
  });

  it("retries 503 and 429 with backoff and then delivers, in order", async () => {
    const rx = await receiver([503, 429]);
    cleanups.push(() => void rx.server.close());
    const { w, metrics } = writer({ url: rx.url }, async () => series(1));
    await w.tick();
    await until(async () => (await value(metrics, "sentSamples")) === 1);
    expect(rx.received).toHaveLength(3);
    expect(await value(metrics, "requests", { result: "retry" })).toBe(2);
  });

  it("drops a batch the receiver refuses with 400 and counts it as rejected", async () => {
    const rx = await receiver([400]);
    cleanups.push(() => void rx.server.close());
    const { w, metrics } = writer({ url: rx.url }, async () => series(2));
    await w.tick();
    await until(async () => (await value(metrics, "droppedSamples", { reason: "rejected" })) === 2);
    expect(await value(metrics, "pendingSamples")).toBe(0);
  });

  it("times out a receiver that does not answer and retries", async () => {
    const rx = await receiver([], 2000);
    cleanups.push(() => void rx.server.closeAllConnections());
    cleanups.push(() => void rx.server.close());
    const { w, metrics } = writer({ url: rx.url, timeoutMs: 100 }, async () => series(1));
    await w.tick();
    await until(async () => (await value(metrics, "requests", { result: "retry" })) >= 2);
    expect(await value(metrics, "sentSamples")).toBe(0);
  });

  it("still times out a receiver that does not answer when garbage collection runs during the request", async () => {
    // Regression: on Node 20 a timeout built from AbortSignal.timeout/any is only weakly held and a
    // full collection mid-request removed it, leaving the sender waiting on a hung receiver forever.
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const rx = await receiver([], 60_000);
    cleanups.push(() => void rx.server.closeAllConnections());
    cleanups.push(() => void rx.server.close());
    const collector = setInterval(gc, 20);
    cleanups.push(() => clearInterval(collector));
    const { w, metrics } = writer({ url: rx.url, timeoutMs: 300 }, async () => series(1));
    await w.tick();
    await until(async () => (await value(metrics, "requests", { result: "retry" })) >= 2);
    expect(await value(metrics, "sentSamples")).toBe(0);
  });

  it("keeps memory bounded while the receiver is down: the oldest samples are dropped and counted", async () => {
    // Nothing listens on port 9 (discard) of loopback: connection refused, retried forever.
    const { w, metrics } = writer({ url: "http://127.0.0.1:9/api/v1/write", maxPendingSamples: 10, maxSamplesPerRequest: 5 }, async () => series(5));
    for (let i = 0; i < 20; i++) await w.tick();
    expect(await value(metrics, "pendingSamples")).toBeLessThanOrEqual(10);
    expect(await value(metrics, "droppedSamples", { reason: "queue_full" })).toBeGreaterThanOrEqual(90);
    await w.stop();
    expect(await value(metrics, "droppedSamples", { reason: "shutdown" })).toBeGreaterThan(0);
  });
});
