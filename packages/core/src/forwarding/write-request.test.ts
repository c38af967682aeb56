import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { rowLine } from "../scrape/exposition.js";
import type { Row } from "../scrape/family.js";
import { ComputedFamily, MetricRegistry } from "../scrape/registry.js";
import { registryText } from "../scrape/registry-text.js";
import { gatherSeries } from "./samples.js";
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

  it("gathers the registry's samples, histogram series by their own names, with job and instance unless a sample has them", async () => {
    const registry = new Registry();
    new Counter({ name: "c_total", help: "c", labelNames: ["instance"], registers: [registry] }).inc({ instance: "mine" }, 3);
    new Histogram({ name: "h_seconds", help: "h", buckets: [1], registers: [registry] }).observe(0.5);
    const families = new MetricRegistry(registry);
    let reads = 0;
    const series = await gatherSeries(() => (reads++, families.read()), { job: "j", instance: "node-1" });
    expect(reads).toBe(1);
    const byName = (name: string) => series.filter((s) => s.labels.__name__ === name);
    expect(byName("c_total")[0]!.labels).toEqual({ __name__: "c_total", job: "j", instance: "mine" });
    expect(byName("h_seconds_bucket").map((s) => s.labels.le)).toEqual(["1", "+Inf"]);
    expect(byName("h_seconds_count")[0]!.samples[0]!.value).toBe(1);
    expect(byName("h_seconds_sum")[0]!.labels).toEqual({ __name__: "h_seconds_sum", job: "j", instance: "node-1" });
    expect(new Set(series.map((s) => s.samples[0]!.timestampMs)).size).toBe(1);
  });

  it("gathers every family's rows, the same samples /metrics prints", async () => {
    const registry = new Registry();
    new Counter({ name: "c_total", help: "c", registers: [registry] }).inc(2);
    const families = new MetricRegistry(registry);
    const rows: Row[] = [];
    for (let i = 0; i < 5000; i++)
      rows.push({ name: "big_total", namespace: "ns", labels: { namespace: "ns", ebpfmap: "m", key: String(i), odd: 'q"\\\n' }, value: i });
    families.register(new ComputedFamily("big_total", "b", "counter", () => rows));
    const series = await gatherSeries(() => families.read(), { job: "j" });
    expect(series).toHaveLength(5001);
    expect(series[1]!.labels).toEqual({ job: "j", namespace: "ns", ebpfmap: "m", key: "0", odd: 'q"\\\n', __name__: "big_total" });
    // Printed back as lines, the series are exactly the sample lines of the exposition.
    const printed = series.map((s) => {
      const { __name__: name, job: _job, ...labels } = s.labels;
      return rowLine({ name: name!, namespace: labels.namespace, labels, value: s.samples[0]!.value });
    });
    const lines = (await registryText(families))
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("#"))
      .map((l) => `${l}\n`);
    expect(printed).toEqual(lines);
  });
});
