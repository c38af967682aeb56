import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { LineWriter } from "../scrape/exposition.js";
import { gatherSeries, parseExposition } from "./samples.js";
import { decodeWriteRequest, encodeWriteRequest } from "./write-request.js";

describe("remote-write payloads", () => {
  it("round-trips series through protobuf and snappy with labels sorted by name", () => {
    const body = encodeWriteRequest([
      { labels: { __name__: "x_total", b: "2", a: 'quo"te\\back\nslash' }, samples: [{ value: 1.5, timestampMs: 1_700_000_000_123 }] },
      { labels: { __name__: "y" }, samples: [{ value: Number.POSITIVE_INFINITY, timestampMs: 1 }] },
    ]);
    const decoded = decodeWriteRequest(body);
    expect(decoded).toEqual([
      { labels: { __name__: "x_total", a: 'quo"te\\back\nslash', b: "2" }, samples: [{ value: 1.5, timestampMs: 1_700_000_000_123 }] },
      { labels: { __name__: "y" }, samples: [{ value: Number.POSITIVE_INFINITY, timestampMs: 1 }] },
    ]);
    expect(Object.keys(decoded[0]!.labels)).toEqual(["__name__", "a", "b"]);
  });

  it("parses exposition lines with escaped label values, special values and timestamps", () => {
    const text = [
      "# HELP a_total help with \\ backslash",
      "# TYPE a_total counter",
      'a_total{k="q\\"uo\\\\te\\nnl",e=""} 3',
      "b +Inf",
      "c{x=\"1\",} -Inf 1700000000000",
      "d Nan",
      "e 1.5e-7",
    ].join("\n");
    const series = parseExposition(text, 42, { job: "j" });
    expect(series.map((s) => s.labels)).toEqual([
      { job: "j", k: 'q"uo\\te\nnl', e: "", __name__: "a_total" },
      { job: "j", __name__: "b" },
      { job: "j", x: "1", __name__: "c" },
      { job: "j", __name__: "d" },
      { job: "j", __name__: "e" },
    ]);
    expect(series.map((s) => s.samples[0]!.value)).toEqual([3, Infinity, -Infinity, NaN, 1.5e-7]);
    expect(series[0]!.samples[0]!.timestampMs).toBe(42);
  });

  it("refuses a malformed line, naming it", () => {
    expect(() => parseExposition('x{a="1} 2', 0)).toThrow('unparsable exposition line: x{a="1} 2');
    expect(() => parseExposition("x{} two", 0)).toThrow(/unparsable/);
  });

  it("gathers the registry's samples, histogram series by their own names, with job and instance unless a sample has them", async () => {
    const registry = new Registry();
    new Counter({ name: "c_total", help: "c", labelNames: ["instance"], registers: [registry] }).inc({ instance: "mine" }, 3);
    new Histogram({ name: "h_seconds", help: "h", buckets: [1], registers: [registry] }).observe(0.5);
    let refreshed = 0;
    const series = await gatherSeries(registry, async () => void refreshed++, { job: "j", instance: "node-1" });
    expect(refreshed).toBe(1);
    const byName = (name: string) => series.filter((s) => s.labels.__name__ === name);
    expect(byName("c_total")[0]!.labels).toEqual({ __name__: "c_total", job: "j", instance: "mine" });
    expect(byName("h_seconds_bucket").map((s) => s.labels.le)).toEqual(["1", "+Inf"]);
    expect(byName("h_seconds_count")[0]!.samples[0]!.value).toBe(1);
    expect(byName("h_seconds_sum")[0]!.labels).toEqual({ __name__: "h_seconds_sum", job: "j", instance: "node-1" });
    expect(new Set(series.map((s) => s.samples[0]!.timestampMs)).size).toBe(1);
  });

  it("gathers the collector's chunked families piece by piece, the same series as the whole text", async () => {
    const registry = new Registry();
    new Counter({ name: "c_total", help: "c", registers: [registry] }).inc(2);
    // A family the way the collector registers one: chunks of finished lines (5,000 lines here).
    const writer = new LineWriter();
    for (let i = 0; i < 5000; i++) writer.add("big_total", `namespace="ns",ebpfmap="m",key="${i}"`, i);
    const values = writer.finish();
    const family = { chunked: true, name: "big_total", help: "b", type: "counter", aggregator: "sum", get: async () => ({ name: "big_total", help: "b", type: "counter", aggregator: "sum", values }), reset: () => undefined };
    registry.registerMetric(family as unknown as Parameters<Registry["registerMetric"]>[0]);
    const series = await gatherSeries(registry, async () => undefined, { job: "j" });
    const expected = parseExposition(await registry.metrics(), series[0]!.samples[0]!.timestampMs, { job: "j" });
    expect(series).toHaveLength(5001);
    expect(series).toEqual(expected);
  });
});
