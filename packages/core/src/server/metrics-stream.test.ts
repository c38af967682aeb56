import { Writable } from "node:stream";
import { Counter, Gauge, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { LineWriter, labelPairs } from "../scrape/exposition.js";
import type { PromValue } from "../scrape/plan-rows.js";
import { createLogger } from "../logger.js";
import { startHttpServer } from "./http-server.js";
import { exposition, writeExposition } from "./metrics-stream.js";

/** A family the way the collector registers one: values are chunks of finished lines. */
function chunkedFamily(registry: Registry, name: string, help: string, lines: number): void {
  const writer = new LineWriter();
  const base = labelPairs({ namespace: 'team "a"', ebpfmap: "m\\1" });
  for (let i = 0; i < lines; i++) writer.add(name, `${base},key="${i}"`, i % 7 === 0 ? Number.NaN : i * 1.5);
  const values: PromValue[] = writer.finish();
  const metric = { chunked: true, name, help, type: "gauge", aggregator: "sum", get: async () => ({ name, help, type: "gauge", aggregator: "sum", values }), reset: () => undefined };
  registry.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
}

function sampleRegistry(lines: number): Registry {
  const registry = new Registry();
  new Counter({ name: "agent_things_total", help: "things, with a \\ and a\nnewline", labelNames: ["kind"], registers: [registry] }).inc({ kind: 'q"uote' }, 3);
  chunkedFamily(registry, "big_family", "help \\ with\nnewline", lines);
  chunkedFamily(registry, "empty_family", "no samples", 0);
  new Gauge({ name: "agent_last", help: "last one", registers: [registry] }).set(7);
  return registry;
}

async function collect(registry: Registry): Promise<string> {
  let out = "";
  for await (const piece of exposition(registry)) out += piece;
  return out;
}

describe("streamed /metrics", () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it("is byte for byte what registry.metrics() renders, over several chunks", async () => {
    for (const lines of [0, 1, 2047, 2048, 2049, 10_000]) {
      const registry = sampleRegistry(lines);
      expect(await collect(registry)).toBe(await registry.metrics());
    }
    expect(await collect(new Registry())).toBe(await new Registry().metrics());
  });

  it("serves it over HTTP, chunked, with the registry's content type", async () => {
    const registry = sampleRegistry(50_000);
    const server = await startHttpServer({ host: "127.0.0.1", port: 0 }, { registry, refresh: async () => undefined, ready: () => true, status: () => ({}), logger: createLogger({ level: "silent" }) });
    close = server.close;
    const response = await fetch(`${server.url}/metrics`);
    expect(response.headers.get("content-type")).toBe(registry.contentType);
    expect(response.headers.get("transfer-encoding")).toBe("chunked");
    expect(await response.text()).toBe(await registry.metrics());
  });

  it("gives the event loop back while it writes a large exposition", async () => {
    const registry = sampleRegistry(300_000);
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
    await writeExposition(registry, sink);
    spinning = false;
    expect(turns).toBeGreaterThan(10);
    expect(pieces.length).toBeGreaterThan(100); // ~64 KiB writes, not one
    expect(Buffer.concat(pieces).toString()).toBe(await registry.metrics());
  });

  it("answers HEAD with the headers only", async () => {
    const registry = sampleRegistry(10);
    const server = await startHttpServer({ host: "127.0.0.1", port: 0 }, { registry, refresh: async () => undefined, ready: () => true, status: () => ({}), logger: createLogger({ level: "silent" }) });
    close = server.close;
    const response = await fetch(`${server.url}/metrics`, { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
  });
});
