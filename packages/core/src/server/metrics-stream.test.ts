import { Writable } from "node:stream";
import { Counter, Gauge, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { LineChunks, labelPairs } from "../scrape/exposition.js";
import type { FamilyRead, MetricFamily, Row } from "../scrape/family.js";
import { MetricRegistry } from "../scrape/registry.js";
import { registryText } from "../scrape/registry-text.js";
import { startHttpServer } from "./http-server.js";
import { writeExposition } from "./metrics-stream.js";

/** A large family the way the collector serves one: lines rendered in pieces, rows alike. */
function bigFamily(name: string, help: string, lines: number): MetricFamily {
  const labels = (i: number) => ({ namespace: 'team "a"', ebpfmap: "m\\1", key: String(i) });
  const value = (i: number) => (i % 7 === 0 ? Number.NaN : i * 1.5);
  const read: FamilyRead = {
    *lines() {
      const out = new LineChunks();
      for (let i = 0; i < lines; i++) {
        out.add(name, labelPairs(labels(i)), value(i));
        if (i % 128 === 0) yield out.take();
      }
      yield out.finish();
    },
    *rows() {
      const rows: Row[] = [];
      for (let i = 0; i < lines; i++) rows.push({ name, namespace: 'team "a"', labels: labels(i), value: value(i) });
      yield rows;
    },
  };
  return { name, help, type: "gauge", read: async () => read };
}

/** The same samples twice: in our registry (families) and in prom-client's (what it prints). */
function sampleRegistries(lines: number): { ours: MetricRegistry; theirs: Registry } {
  const prom = new Registry();
  new Counter({ name: "agent_things_total", help: "things, with a \\ and a\nnewline", labelNames: ["kind"], registers: [prom] }).inc({ kind: 'q"uote' }, 3);
  new Gauge({ name: "agent_last", help: "last one", registers: [prom] }).set(7);
  const ours = new MetricRegistry(prom);
  ours.register(bigFamily("big_family", "help \\ with\nnewline", lines));
  ours.register(bigFamily("empty_family", "no samples", 0));
  // prom-client prints the same rows as custom metric objects, after its own metrics.
  const theirs = new Registry();
  new Counter({ name: "agent_things_total", help: "things, with a \\ and a\nnewline", labelNames: ["kind"], registers: [theirs] }).inc({ kind: 'q"uote' }, 3);
  new Gauge({ name: "agent_last", help: "last one", registers: [theirs] }).set(7);
  for (const family of [bigFamily("big_family", "help \\ with\nnewline", lines), bigFamily("empty_family", "no samples", 0)]) {
    const get = async () => {
      const values = [...(await family.read()).rows()].flat().map((r) => ({ labels: r.labels, value: r.value }));
      return { name: family.name, help: family.help, type: family.type, aggregator: "sum", values };
    };
    theirs.registerMetric({ name: family.name, help: family.help, type: family.type, aggregator: "sum", get, reset: () => undefined } as unknown as Parameters<
      Registry["registerMetric"]
    >[0]);
  }
  return { ours, theirs };
}

describe("streamed /metrics", () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it("is byte for byte what prom-client's registry.metrics() prints for the same samples, over several pieces", async () => {
    for (const lines of [0, 1, 2047, 2048, 2049, 10_000]) {
      const { ours, theirs } = sampleRegistries(lines);
      expect(await registryText(ours)).toBe(await theirs.metrics());
    }
    expect(await registryText(new MetricRegistry(new Registry()))).toBe(await new Registry().metrics());
  });

  it("serves it over HTTP, chunked, with prom-client's content type", async () => {
    const { ours, theirs } = sampleRegistries(50_000);
    const server = await startHttpServer(
      { host: "127.0.0.1", port: 0 },
      { metrics: () => ours.read(), ready: () => true, status: () => ({}), logger: createLogger({ level: "silent" }) },
    );
    close = server.close;
    const response = await fetch(`${server.url}/metrics`);
    expect(response.headers.get("content-type")).toBe(theirs.contentType);
    expect(response.headers.get("transfer-encoding")).toBe("chunked");
    expect(await response.text()).toBe(await theirs.metrics());
  });

  it("gives the event loop back while it writes a large exposition", async () => {
    const { ours } = sampleRegistries(200_000);
    const pieces: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        pieces.push(chunk);
        done();
      },
    });
    // A chain of setImmediate callbacks advances only when the writer yields: written in one
    // synchronous go, it would not advance at all before the write resolves.
    let turns = 0;
    let spinning = true;
    const spin = (): void => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    await writeExposition(await ours.read(), sink);
    spinning = false;
    expect(turns).toBeGreaterThan(10);
    expect(pieces.length).toBeGreaterThan(50); // ~64 KiB writes, not one
    expect(Buffer.concat(pieces).toString()).toBe(await registryText(ours));
  });

  it("answers HEAD with the headers only", async () => {
    const { ours } = sampleRegistries(10);
    const server = await startHttpServer(
      { host: "127.0.0.1", port: 0 },
      { metrics: () => ours.read(), ready: () => true, logger: createLogger({ level: "silent" }) },
    );
    close = server.close;
    const response = await fetch(`${server.url}/metrics`, { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
    expect((await fetch(`${server.url}/status`)).status).toBe(404); // this process has no /status
  });
});
