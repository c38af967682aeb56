import { Writable } from "node:stream";
import { Counter, Gauge, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { bodyChunks, ByteLines, STEP } from "../scrape/byte-lines.js";
import { labelPairs, sampleLine } from "../scrape/exposition.js";
import type { FamilyRead, MetricFamily, Row } from "../scrape/family.js";
import { MetricRegistry } from "../scrape/registry.js";
import { registryText } from "../scrape/registry-text.js";
import { gunzipSync } from "node:zlib";
import { acceptsGzip, startHttpServer } from "./http-server.js";
import { writeExposition } from "./metrics-stream.js";

/** A large family the way the collector serves one: lines rendered in pieces, rows alike. */
function bigFamily(name: string, help: string, lines: number): MetricFamily {
  const labels = (i: number) => ({ namespace: 'team "a"', ebpfmap: "m\\1", key: String(i) });
  const value = (i: number) => (i % 7 === 0 ? Number.NaN : i * 1.5);
  const read: FamilyRead = {
    *lines() {
      let text = "";
      for (let i = 0; i < lines; i++) {
        text += sampleLine(name, labelPairs(labels(i)), value(i));
        if (i % 128 === 0) {
          yield text;
          text = "";
        }
      }
      yield text;
    },
    *bytes() {
      const out = new ByteLines();
      for (let i = 0; i < lines; i++) {
        out.text(`${name}{${labelPairs(labels(i))}} `);
        out.value(value(i));
        out.endLine();
        if (i % 128 === 0) {
          const ready = out.take();
          if (ready.length === 0) yield STEP;
          yield* ready;
        }
      }
      out.endPiece();
      yield* out.take();
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
    const response = await fetch(`${server.url}/metrics`, { headers: { "accept-encoding": "identity" } });
    expect(response.headers.get("content-type")).toBe(theirs.contentType);
    expect(response.headers.get("transfer-encoding")).toBe("chunked");
    expect(response.headers.get("content-encoding")).toBeNull();
    const plain = await response.text();
    expect(plain).toBe(await theirs.metrics());
  });

  it("gzips the same text when the scraper accepts gzip, and releases each read", async () => {
    const { ours } = sampleRegistries(50_000);
    let released = 0;
    const read = async () => {
      const r = await ours.read();
      return { families: r.families, release: () => void released++ };
    };
    const server = await startHttpServer({ host: "127.0.0.1", port: 0 }, { metrics: read, ready: () => true, logger: createLogger({ level: "silent" }) });
    close = server.close;
    const plain = Buffer.from(await (await fetch(`${server.url}/metrics`, { headers: { "accept-encoding": "identity" } })).arrayBuffer());
    // Raw bytes of the gzip response: node:http does not decompress.
    const { request } = await import("node:http");
    const gz = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      request(`${server.url}/metrics`, { headers: { "accept-encoding": "gzip" } }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(parts) }));
        res.on("error", reject);
      })
        .on("error", reject)
        .end();
    });
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(gz.headers.vary).toBe("accept-encoding");
    expect(gz.body.length).toBeLessThan(plain.length / 5);
    expect(gunzipSync(gz.body).equals(plain)).toBe(true);
    expect(released).toBe(2);
  });

  it("serves a tenant's view from byte families too: empty families left out whole, gzipped when asked, read released", async () => {
    const ours = new MetricRegistry();
    ours.register(bigFamily("big_family", "help", 20_000));
    ours.register(bigFamily("empty_family", "another tenant's help", 0));
    ours.register(bigFamily("last_family", "help", 3));
    const scopes: (string | undefined)[] = [];
    let released = 0;
    const server = await startHttpServer(
      { host: "127.0.0.1", port: 0 },
      {
        metrics: async (scope) => {
          scopes.push(scope?.namespaces ? [...scope.namespaces].join() : undefined);
          const r = await ours.read(scope);
          return { families: r.families, release: () => void released++ };
        },
        ready: () => true,
        namespaceViews: true,
        logger: createLogger({ level: "silent" }),
      },
    );
    close = server.close;
    const url = `${server.url}/namespaces/team-a/metrics`;
    const plain = Buffer.from(await (await fetch(url, { headers: { "accept-encoding": "identity" } })).arrayBuffer());
    const { request } = await import("node:http");
    const gz = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      request(url, { headers: { "accept-encoding": "gzip" } }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(parts) }));
        res.on("error", reject);
      })
        .on("error", reject)
        .end();
    });
    expect(scopes).toEqual(["team-a", "team-a"]);
    const text = plain.toString();
    expect(text).toBe(await registryText(ours, { namespaces: new Set(["team-a"]) }));
    expect(text).not.toContain("empty_family");
    expect(text).not.toContain("another tenant's help");
    expect(text.startsWith("# HELP big_family help\n")).toBe(true);
    expect(text).toContain("\n\n# HELP last_family help\n");
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(gz.body.length).toBeLessThan(plain.length / 5);
    expect(gunzipSync(gz.body).equals(plain)).toBe(true);
    expect(released).toBe(2);
    // The whole-node view keeps the empty family's HELP/TYPE, as prom-client does.
    expect(await (await fetch(`${server.url}/metrics`)).text()).toContain("# HELP empty_family another tenant's help\n");
  });

  it("writes bodies into buffers handed back once sent: concurrent scrapes, plain and gzip, stay exact and allocate none in a steady state", async () => {
    const { ours, theirs } = sampleRegistries(50_000); // ~3 MiB: ~50 pieces per body
    const server = await startHttpServer(
      { host: "127.0.0.1", port: 0 },
      { metrics: () => ours.read(), ready: () => true, logger: createLogger({ level: "silent" }) },
    );
    close = server.close;
    const expected = await theirs.metrics();
    const { request } = await import("node:http");
    const gzipped = () =>
      new Promise<Buffer>((resolve, reject) => {
        request(`${server.url}/metrics`, { headers: { "accept-encoding": "gzip" } }, (res) => {
          const parts: Buffer[] = [];
          res.on("data", (c: Buffer) => parts.push(c));
          res.on("end", () => resolve(gunzipSync(Buffer.concat(parts))));
          res.on("error", reject);
        })
          .on("error", reject)
          .end();
      });
    const plain = async () => (await fetch(`${server.url}/metrics`, { headers: { "accept-encoding": "identity" } })).text();
    const round = async () => {
      const [a, b, c] = await Promise.all([plain(), gzipped(), plain()]);
      expect(a).toBe(expected);
      expect(b.toString()).toBe(expected);
      expect(c).toBe(expected);
    };
    await round(); // fills the pool
    const before = bodyChunks.allocated;
    for (let i = 0; i < 3; i++) await round();
    // ~450 pieces written over these rounds; new buffers only where three scrapes at once
    // outgrow what the pool keeps.
    expect(bodyChunks.allocated - before).toBeLessThan(30);
  });

  it("gives the event loop back while it writes a large exposition", async () => {
    const { ours } = sampleRegistries(200_000);
    const pieces: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        // Copied, as a socket copies them: a piece's buffer is filled again once written.
        pieces.push(Buffer.from(chunk));
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

  it("writes nothing in the turn its read resolved in: the first slice waits for a check phase", async () => {
    const { ours } = sampleRegistries(100);
    const read = await ours.read();
    const pieces: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        pieces.push(Buffer.from(chunk));
        done();
      },
    });
    let writtenBeforeImmediate = -1;
    setImmediate(() => (writtenBeforeImmediate = pieces.length));
    await writeExposition(read, sink);
    expect(writtenBeforeImmediate).toBe(0);
    expect(Buffer.concat(pieces).toString()).toBe(await registryText(ours));
  });

  it("resumes after back-pressure in a check phase of its own, not in the callback that drained", async () => {
    const { ours } = sampleRegistries(20_000);
    // A sink that is always full and drains from a timer, as a socket drains from the poll phase.
    // The timer callback schedules an immediate that clears `inDrainTurn` before the writer's
    // own immediate runs: a write resumed straight from the drain (its microtasks) sees it set.
    let inDrainTurn = false;
    let resumedInDrainTurn = 0;
    let drains = 0;
    const pieces: Buffer[] = [];
    const sink = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, done) {
        if (inDrainTurn) resumedInDrainTurn++;
        pieces.push(Buffer.from(chunk));
        setTimeout(() => {
          inDrainTurn = true;
          drains++;
          setImmediate(() => (inDrainTurn = false));
          done();
        }, 0);
      },
    });
    await writeExposition(await ours.read(), sink);
    expect(drains).toBeGreaterThan(10);
    expect(resumedInDrainTurn).toBe(0);
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

describe("Accept-Encoding", () => {
  it("takes gzip when the scraper lists it with a q-value above 0", () => {
    expect(acceptsGzip("gzip")).toBe(true);
    expect(acceptsGzip("deflate, gzip;q=1.0, *;q=0.5")).toBe(true);
    expect(acceptsGzip("x-gzip")).toBe(true);
    expect(acceptsGzip("*")).toBe(true);
    expect(acceptsGzip("gzip;q=0")).toBe(false);
    expect(acceptsGzip("gzip; q=0, *")).toBe(false);
    expect(acceptsGzip("identity")).toBe(false);
    expect(acceptsGzip("br, zstd")).toBe(false);
    expect(acceptsGzip(undefined)).toBe(false);
    expect(acceptsGzip("")).toBe(false);
  });
});
