import type { BtfMember, BtfType, MapEntries, MapInfo } from "@ebpf-operator/libbpf";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { MetricSpec } from "../api/metrics-schema.js";
import { DecoderRegistry } from "../decoders/registry.js";
import { escapeLabelValue, familyHeader, formatValue, labelPairs, Slicer } from "./exposition.js";
import { metricConfigs, type MetricConfig } from "../plan/metric-config.js";
import { buildMetricPlan, type MapView, type MetricPlan } from "../plan/metric-plan.js";
import type { Row } from "./family.js";
import { planRowsAll, planText, planTextAll, type BaseLabels } from "./plan-rows.js";

const ref = { namespace: 'team "a"', name: "m\\1" };
const base = { namespace: ref.namespace, ebpfmap: ref.name };
const decoders = new DecoderRegistry();

const u32: BtfType = { kind: "int", name: "unsigned int", size: 4, signed: false, char: false, bool: false };
const s64: BtfType = { kind: "int", name: "long long", size: 8, signed: true, char: false, bool: false };
const u64: BtfType = { kind: "int", name: "unsigned long long", size: 8, signed: false, char: false, bool: false };
const comm: BtfType = { kind: "array", size: 16, length: 16, elementType: { kind: "int", name: "char", size: 1, signed: true, char: true, bool: false } };
const member = (name: string, type: BtfType, offset: number): BtfMember => ({ name, type, offset, bitOffset: offset * 8, bitSize: 0 });
const struct = (name: string, members: BtfMember[], size: number): BtfType => ({ kind: "struct", name, size, members });

function mapView(key: BtfType, value: BtfType, isPerCpu = false): MapView {
  const info: MapInfo = {
    id: 1,
    name: "x",
    type: isPerCpu ? "percpu_hash" : "hash",
    keySize: key.size,
    valueSize: value.size,
    maxEntries: 100_000,
    flags: 0,
    btfId: 1,
    btfKeyTypeId: 1,
    btfValueTypeId: 2,
  };
  return { info, isPerCpu, describeKey: () => key, describeValue: () => value };
}

function config(spec: Partial<MetricSpec> & { type?: MetricSpec["type"] }): MetricConfig {
  const full: MetricSpec = { name: "x", map: "x", ...spec };
  const type = full.type ?? "counter";
  return { name: type === "counter" ? `${full.name}_total` : full.name, help: "h", type, map: full.map, field: "spec.metrics[0]", spec: full, flat: false };
}

function entries(keys: Buffer[], values: Buffer[]): MapEntries {
  return {
    count: keys.length,
    keySize: keys[0]?.length ?? 4,
    valueStride: values[0]?.length ?? 8,
    keys: Buffer.concat(keys),
    values: Buffer.concat(values),
    method: "batch",
    syscalls: 1,
  };
}

const le = (value: number | bigint, size: number): Buffer => {
  const b = Buffer.alloc(size);
  if (size === 8) b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(value)));
  else b.writeUIntLE(Number(value), 0, size);
  return b;
};

/** What prom-client's registry prints for one family with these rows as its values. */
async function render(name: string, type: string, rows: readonly Row[]): Promise<string> {
  const values = rows.map((r) => ({ metricName: r.name, labels: r.labels, value: r.value }));
  const registry = new Registry();
  const metric = {
    name,
    help: "help \\ text",
    type,
    aggregator: "sum",
    get: async () => ({ name, help: "help \\ text", type, aggregator: "sum", values }),
    reset: () => undefined,
  };
  registry.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
  return registry.metrics();
}

/** Our text of one family: its header and the plan's lines, and how many pieces they came in. */
function ours(name: string, type: string, read: MapEntries, plan: MetricPlan, cpus: number, base: BaseLabels): { text: string; pieces: number } {
  let text = familyHeader({ name, help: "help \\ text", type: type as "counter" });
  let pieces = 0;
  for (const piece of planText(read, plan, cpus, base)) {
    if (piece !== "") pieces++;
    text += piece;
  }
  return { text, pieces };
}

describe("the collector's own exposition", () => {
  it("escapes and formats like prom-client", () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(escapeLabelValue("plain")).toBe("plain");
    expect(labelPairs({ a: "1", b: 'x"' })).toBe('a="1",b="x\\""');
    expect([formatValue(1.5), formatValue(NaN), formatValue(Infinity), formatValue(-Infinity)]).toEqual(["1.5", "Nan", "+Inf", "-Inf"]);
  });

  it("prints struct-key labels byte for byte as prom-client prints the samples, over several chunks", async () => {
    const key = struct("task_key", [member("pid", u32, 0), member("cpu", u32, 4), member("big", u64, 8), member("neg", s64, 16), member("comm", comm, 24)], 40);
    const plan = buildMetricPlan(config({ name: "tasks" }), mapView(key, u64, true), decoders, ref);
    const keys: Buffer[] = [];
    const values: Buffer[] = [];
    const names = ['sh"', "back\\slash", "new\nline", "bash", "\u00e9t\u00e9", "x".repeat(16)];
    for (let i = 0; i < 6000; i++) {
      const k = Buffer.alloc(40);
      if (i >= 5000) {
        // The last 1000 rows repeat earlier keys with a byte after comm's NUL: the same labels,
        // another key (not in canonical form), so the walk sums label sets.
        const j = i - 5000;
        const source = j % names.length === 5 ? j - 1 : j; // names[5] fills comm: no NUL
        const copy = Buffer.from(keys[source]!);
        copy[39] = 0x55;
        keys.push(copy);
        values.push(values[source]!);
        continue;
      }
      k.writeUInt32LE(i, 0);
      k.writeUInt32LE(4294967295 - i, 4);
      k.writeBigUInt64LE(i % 3 === 0 ? 2n ** 63n + 5n : BigInt(i), 8);
      k.writeBigInt64LE(i % 2 === 0 ? -(2n ** 60n) : BigInt(-i), 16);
      k.write(names[i % names.length]!, 24, 16);
      keys.push(k);
      values.push(Buffer.concat([le(i, 8), le(2 ** 53 + 2 * i, 8)]));
    }
    const read = entries(keys, values);
    const expected = await render("tasks_total", "counter", planRowsAll(read, plan, 2, base));
    const { text, pieces } = ours("tasks_total", "counter", read, plan, 2, base);
    expect(pieces).toBeGreaterThan(1);
    expect(text).toBe(expected);
    expect(expected.split("\n").filter((l) => l.startsWith("tasks_total{"))).toHaveLength(5000);
  });

  it("prints rows that are each a series of their own (integers as digits, enums and wide integers as text) like prom-client", async () => {
    const color: BtfType = {
      kind: "enum",
      name: "color",
      size: 4,
      signed: false,
      values: [
        { name: "RED", value: 0n },
        { name: "GREEN", value: 1n },
      ],
    };
    const u8: BtfType = { kind: "int", name: "unsigned char", size: 1, signed: false, char: false, bool: false };
    const s16: BtfType = { kind: "int", name: "short", size: 2, signed: true, char: false, bool: false };
    const key = struct(
      "k",
      [
        member("pid", u32, 0),
        member("cpu", u32, 4),
        member("big", u64, 8),
        member("neg", s64, 16),
        member("c", color, 24),
        member("small", u8, 28),
        member("tiny", u8, 29),
        member("s", s16, 30),
      ],
      32,
    );
    const plan = buildMetricPlan(config({ name: "uniq", type: "gauge" }), mapView(key, s64), decoders, ref);
    expect(plan.uniqueRows).toBe(true);
    const keys: Buffer[] = [];
    const values: Buffer[] = [];
    for (let i = 0; i < 6000; i++) {
      const k = Buffer.alloc(32);
      k.writeUInt32LE(i, 0);
      k.writeUInt32LE(4294967295 - i, 4);
      k.writeBigUInt64LE(i % 3 === 0 ? 2n ** 63n + BigInt(i) : i % 3 === 1 ? 2n ** 53n - 1n - BigInt(i) : BigInt(i), 8);
      k.writeBigInt64LE(i % 2 === 0 ? -(2n ** 60n) - BigInt(i) : BigInt(-i), 16);
      k.writeUInt32LE(i % 3, 24); // 2 is no enumerator: "unknown:2"
      k.writeUInt8(i % 256, 28);
      k.writeUInt8(255 - (i % 256), 29);
      k.writeInt16LE(-i, 30);
      keys.push(k);
      values.push(le(i % 5 === 0 ? -BigInt(i) * 1000n : BigInt(i) * 2n ** 40n, 8));
    }
    const read = entries(keys, values);
    const { text, pieces } = ours("uniq", "gauge", read, plan, 1, base);
    expect(pieces).toBeGreaterThan(1);
    expect(text).toBe(await render("uniq", "gauge", planRowsAll(read, plan, 1, base)));
    expect(text.split("\n").filter((l) => l.startsWith("uniq{"))).toHaveLength(6000);
    // Without base labels: the first label opens the braces.
    const bare = { namespace: "", ebpfmap: "" };
    expect(ours("uniq", "gauge", read, plan, 1, bare).text).toContain('uniq{namespace="",ebpfmap="",pid="0",cpu="4294967295",');
  });

  it("skips summing when every key is in canonical form (C strings zero after the NUL), and sums when one is not", async () => {
    const key = struct("k", [member("pid", u32, 0), member("comm", comm, 4)], 20);
    const plan = buildMetricPlan(config({ name: "c" }), mapView(key, u64), decoders, ref);
    expect(plan.uniqueRows).toBe(false);
    expect(plan.distinctWhen).toEqual({ nulPadded: [{ offset: 4, size: 16 }], bools: [], zero: [] });
    const keys = Array.from({ length: 3000 }, (_, i) => {
      const k = Buffer.alloc(20);
      k.writeUInt32LE(i % 1500, 0);
      k.write(i < 1500 ? "bash" : 'sh"', 4);
      return k;
    });
    const values = keys.map((_, i) => le(i, 8));
    const canonical = entries(keys, values);
    const text = ours("c_total", "counter", canonical, plan, 1, base).text;
    expect(text).toBe(await render("c_total", "counter", planRowsAll(canonical, plan, 1, base)));
    expect(text.split("\n").filter((l) => l.startsWith("c_total{"))).toHaveLength(3000);

    // The last row becomes row 0's key with a byte after comm's NUL: another key, the same
    // labels. Out of canonical form, the walk sums it into row 0's series.
    keys[2999] = Buffer.from(keys[0]!);
    keys[2999][19] = 1;
    const merged = entries(keys, values);
    const summed = ours("c_total", "counter", merged, plan, 1, base).text;
    expect(summed).toBe(await render("c_total", "counter", planRowsAll(merged, plan, 1, base)));
    expect(summed.split("\n").filter((l) => l.startsWith("c_total{"))).toHaveLength(2999);
    expect(summed).toContain(`c_total{namespace="team \\"a\\"",ebpfmap="m\\\\1",pid="0",comm="bash"} 2999\n`);
  });

  it("prints histograms and flat metrics like prom-client", async () => {
    const key = struct("k", [member("comm", comm, 0), member("bucket", u32, 16)], 20);
    const plan = buildMetricPlan(
      config({ name: "h", type: "histogram", histogram: { bucketType: "exp2", bucketMin: 0, bucketMax: 3 } }),
      mapView(key, u64),
      decoders,
      ref,
    );
    const rows = [
      ["bash", 0, 2],
      ["sh", 2, 1],
      ["bash", 3, 4],
      ["bash", 4, 100],
      ["sh", 9, 1],
    ] as const;
    const read = entries(
      rows.map(([c, b]) => {
        const k = Buffer.alloc(20);
        k.write(c, 0);
        k.writeUInt32LE(b, 16);
        return k;
      }),
      rows.map(([, , v]) => le(v, 8)),
    );
    expect(ours("h", "histogram", read, plan, 1, base).text).toBe(await render("h", "histogram", planRowsAll(read, plan, 1, base)));

    const [flatConfig] = metricConfigs({ name: "c", map: "m", type: "tracepoint", target: "a/b", program: "p", code: "c" });
    const flatPlan = buildMetricPlan(flatConfig!, mapView(u32, u64), decoders, ref);
    expect(flatPlan.uniqueRows).toBe(true);
    const flat = entries([le(0, 4), le(7, 4), le(2 ** 32 - 1, 4)], [le(1, 8), le(2, 8), le(3, 8)]);
    expect(ours("c_total", "counter", flat, flatPlan, 1, base).text).toBe(await render("c_total", "counter", planRowsAll(flat, flatPlan, 1, base)));

    const none = entries([], []);
    expect(ours("c_total", "counter", none, flatPlan, 1, base).text).toBe(await render("c_total", "counter", []));
  });
});

describe("series cap (quotas.seriesPerEbpfMap)", () => {
  const key = struct("k", [member("pid", u32, 0), member("comm", comm, 4)], 20);
  const plan = buildMetricPlan(config({ name: "tasks" }), mapView(key, u64), decoders, ref);
  /**
   * 1000 rows, 500 label sets (each twice): a tenant's map of distinct keys. A map's keys are
   * distinct bytes, so each label set's second key differs after comm's NUL (same labels).
   */
  const read = (() => {
    const keys: Buffer[] = [];
    const values: Buffer[] = [];
    for (let i = 0; i < 1000; i++) {
      const k = Buffer.alloc(20);
      k.writeUInt32LE(i % 500, 0);
      k.write("x", 4);
      if (i >= 500) k[19] = 1;
      keys.push(k);
      values.push(le(1, 8));
    }
    return entries(keys, values);
  })();

  it("serves the cap, sums the rest into one overflow series, and reports the label sets dropped", async () => {
    const dropped: number[] = [];
    const rows = planRowsAll(read, plan, 1, base, { maxSeries: 100, onDropped: (n) => dropped.push(n) });
    const overflow = rows.filter((r) => r.labels.overflow === "true");
    expect(rows).toHaveLength(101);
    expect(overflow).toEqual([{ name: "tasks_total", namespace: base.namespace, labels: { ...base, overflow: "true" }, value: 800 }]);
    // Nothing lost: the served series and the overflow add up to every row's value.
    expect(rows.reduce((sum, r) => sum + r.value, 0)).toBe(1000);
    expect(dropped).toEqual([400]);
    // The text says the same as the rows.
    const text = planTextAll(read, plan, 1, base, { maxSeries: 100 });
    expect(text.split("\n").filter((l) => l.startsWith("tasks_total{"))).toHaveLength(101);
    expect(`${familyHeader({ name: "tasks_total", help: "help \\ text", type: "counter" })}${text}`).toBe(await render("tasks_total", "counter", rows));
  });

  it("adds no overflow series and reports nothing under the cap", () => {
    const dropped: number[] = [];
    const rows = planRowsAll(read, plan, 1, base, { maxSeries: 500, onDropped: (n) => dropped.push(n) });
    expect(rows).toHaveLength(500);
    expect(rows.some((r) => "overflow" in r.labels)).toBe(false);
    expect(dropped).toEqual([]);
  });

  it("caps a flat metric's unique rows and a histogram by the series it renders", () => {
    const [flatConfig] = metricConfigs({ name: "c", map: "m", type: "tracepoint", target: "a/b", program: "p", code: "c" });
    const flatPlan = buildMetricPlan(flatConfig!, mapView(u32, u64), decoders, ref);
    const flat = entries(
      Array.from({ length: 50 }, (_, i) => le(i, 4)),
      Array.from({ length: 50 }, () => le(2, 8)),
    );
    const flatRows = planRowsAll(flat, flatPlan, 1, base, { maxSeries: 10 });
    expect(flatRows).toHaveLength(11);
    expect(flatRows.at(-1)).toMatchObject({ labels: { overflow: "true" }, value: 80 });

    const hkey = struct("k", [member("pid", u32, 0), member("bucket", u32, 4)], 8);
    const hplan = buildMetricPlan(
      config({ name: "h", type: "histogram", histogram: { bucketType: "exp2", bucketMin: 0, bucketMax: 3 } }),
      mapView(hkey, u64),
      decoders,
      ref,
    );
    const hread = entries(
      Array.from({ length: 20 }, (_, i) => Buffer.concat([le(i, 4), le(1, 4)])),
      Array.from({ length: 20 }, () => le(1, 8)),
    );
    // Each label set renders its buckets, _sum and _count: a cap of 2 label sets' worth keeps 2.
    const perSet = planRowsAll(entries([hread.keys.subarray(0, 8)], [hread.values.subarray(0, 8)]), hplan, 1, base).length;
    const hrows = planRowsAll(hread, hplan, 1, base, { maxSeries: 2 * perSet });
    const pids = new Set(hrows.filter((r) => r.labels.pid !== undefined).map((r) => r.labels.pid));
    expect(pids.size).toBe(2);
    expect(hrows.find((r) => r.name === "h_count" && r.labels.overflow === "true")?.value).toBe(18);
    expect(hrows).toHaveLength(3 * perSet);
  });

  it("writes the same text as the rows for distinct rows under and over the cap, and per CPU", async () => {
    const header = (name: string): string => familyHeader({ name, help: "help \\ text", type: "counter" });
    const [flatConfig] = metricConfigs({ name: "c", map: "m", type: "tracepoint", target: "a/b", program: "p", code: "c" });
    const flatPlan = buildMetricPlan(flatConfig!, mapView(u32, u64), decoders, ref);
    const flat = entries(
      Array.from({ length: 50 }, (_, i) => le(i, 4)),
      Array.from({ length: 50 }, (_, i) => le(i + 1, 8)),
    );
    // 50 distinct rows: under a cap of 50 the direct byte path, over a cap of 10 the walk.
    for (const maxSeries of [50, 10]) {
      const dropped: number[] = [];
      const text = planTextAll(flat, flatPlan, 1, base, { maxSeries, onDropped: (n) => dropped.push(n) });
      expect(`${header("c_total")}${text}`).toBe(await render("c_total", "counter", planRowsAll(flat, flatPlan, 1, base, { maxSeries })));
      expect(text.split("\n").filter((l) => l.startsWith("c_total{"))).toHaveLength(maxSeries === 50 ? 50 : 11);
      expect(dropped).toEqual(maxSeries === 50 ? [] : [40]);
    }
    const cpus = 3;
    const pplan = buildMetricPlan(config({ name: "irqs", perCpu: true, labels: [{ name: "irq", size: 4 }] }), mapView(u32, u64, true), decoders, ref);
    const pread = entries(
      Array.from({ length: 5 }, (_, i) => le(i, 4)),
      Array.from({ length: 5 }, (_, i) => Buffer.concat(Array.from({ length: cpus }, (_, cpu) => le(10 * i + cpu, 8)))),
    );
    const ptext = planTextAll(pread, pplan, cpus, base);
    expect(`${header("irqs_total")}${ptext}`).toBe(await render("irqs_total", "counter", planRowsAll(pread, pplan, cpus, base)));
    expect(ptext).toContain(',irq="4",cpu="2"} 42\n');
  });

  it("counts a perCpu metric's series per CPU against the cap, and sums the rest without their cpu label", () => {
    const cpus = 4;
    const pplan = buildMetricPlan(config({ name: "irqs", perCpu: true, labels: [{ name: "irq", size: 4 }] }), mapView(u32, u64, true), decoders, ref);
    // 10 keys, each CPU's slot holding cpu + 1: 40 series, 100 in all.
    const pread = entries(
      Array.from({ length: 10 }, (_, i) => le(i, 4)),
      Array.from({ length: 10 }, () => Buffer.concat(Array.from({ length: cpus }, (_, cpu) => le(cpu + 1, 8)))),
    );
    const dropped: number[] = [];
    const rows = planRowsAll(pread, pplan, cpus, base, { maxSeries: 12, onDropped: (n) => dropped.push(n) });
    expect(rows).toHaveLength(13);
    const served = rows.filter((r) => r.labels.overflow === undefined);
    expect(new Set(served.map((r) => r.labels.irq)).size).toBe(3);
    expect(served.map((r) => r.labels.cpu).sort()).toEqual(["0", "0", "0", "1", "1", "1", "2", "2", "2", "3", "3", "3"]);
    expect(rows.filter((r) => r.labels.overflow === "true")).toEqual([
      { name: "irqs_total", namespace: base.namespace, labels: { ...base, overflow: "true" }, value: 70 },
    ]);
    expect(rows.reduce((sum, r) => sum + r.value, 0)).toBe(100);
    expect(dropped).toEqual([28]);
    const text = planTextAll(pread, pplan, cpus, base, { maxSeries: 12 });
    expect(text.split("\n").filter((l) => l.startsWith("irqs_total{"))).toHaveLength(13);
    expect(text).toContain(',overflow="true"} 70');
  });
});

describe("Slicer", () => {
  it("begins its first slice after an immediate queued before it, in a check phase of its own", async () => {
    const order: string[] = [];
    setImmediate(() => order.push("queued before"));
    const slicer = await Slicer.begin(50);
    order.push("first slice");
    expect(order).toEqual(["queued before", "first slice"]);
    expect(slicer.due()).toBe(false); // the slice starts when begin resolves, not when it was called
  });

  it("is due once a slice has run for its length, and starts a new one on pause", async () => {
    const slicer = await Slicer.begin(5);
    const until = performance.now() + 6;
    while (performance.now() < until);
    expect(slicer.due()).toBe(true);
    await slicer.pause();
    expect(slicer.due()).toBe(false);
  });
});
