import type { BtfMember, BtfType, MapEntries, MapInfo } from "@ebpf-operator/libbpf";
import { describe, expect, it } from "vitest";
import type { MetricSpec } from "../api/metrics-schema.js";
import { DecoderRegistry } from "../decoders/registry.js";
import type { MetricConfig } from "./metric-config.js";
import { buildMetricPlan, type MapView, type MetricPlan } from "./metric-plan.js";
import { planRowsAll, type BaseLabels } from "../scrape/plan-rows.js";

const ref = { namespace: "default", name: "m" };
const base = { namespace: "default", ebpfmap: "m" };
const decoders = new DecoderRegistry();

/** Rows in the shape these tests compare: histogram series carry their own name. */
function planSamples(
  read: MapEntries,
  plan: MetricPlan,
  cpus: number,
  base: BaseLabels,
): { metricName?: string; labels: Readonly<Record<string, string>>; value: number }[] {
  return planRowsAll(read, plan, cpus, base).map((r) =>
    plan.config.type === "histogram" ? { metricName: r.name, labels: r.labels, value: r.value } : { labels: r.labels, value: r.value },
  );
}

const u32: BtfType = { kind: "int", name: "unsigned int", size: 4, signed: false, char: false, bool: false };
const s64: BtfType = { kind: "int", name: "long long", size: 8, signed: true, char: false, bool: false };
const u64: BtfType = { kind: "int", name: "unsigned long long", size: 8, signed: false, char: false, bool: false };
const comm: BtfType = { kind: "array", size: 16, length: 16, elementType: { kind: "int", name: "char", size: 1, signed: true, char: true, bool: false } };
const state: BtfType = {
  kind: "enum",
  name: "state",
  size: 4,
  signed: false,
  values: [
    { name: "RUNNING", value: 0n },
    { name: "SLEEPING", value: 1n },
  ],
};
const member = (name: string, type: BtfType, offset: number): BtfMember => ({ name, type, offset, bitOffset: offset * 8, bitSize: 0 });
const struct = (name: string, members: BtfMember[], size: number): BtfType => ({ kind: "struct", name, size, members });

function mapView(key: BtfType | undefined, value: BtfType | undefined, info: Partial<MapInfo> = {}, isPerCpu = false): MapView {
  return {
    info: {
      id: 1,
      name: "x",
      type: isPerCpu ? "percpu_hash" : "hash",
      keySize: key?.size ?? 4,
      valueSize: value?.size ?? 8,
      maxEntries: 1024,
      flags: 0,
      btfId: 1,
      btfKeyTypeId: 1,
      btfValueTypeId: 2,
      ...info,
    },
    isPerCpu,
    describeKey: () => key,
    describeValue: () => value,
  };
}

function config(spec: Partial<MetricSpec> & { type?: MetricSpec["type"] }): MetricConfig {
  const full: MetricSpec = { name: "x", map: "x", ...spec };
  const type = full.type ?? "counter";
  return { name: type === "counter" ? `${full.name}_total` : full.name, help: "h", type, map: full.map, field: "spec.metrics[0]", spec: full, flat: false };
}

/** Packs rows: key bytes and value bytes (per-CPU slots concatenated). */
function entries(rows: [Buffer, Buffer][]): MapEntries {
  return {
    count: rows.length,
    keySize: rows[0]?.[0].length ?? 4,
    valueStride: rows[0]?.[1].length ?? 8,
    keys: Buffer.concat(rows.map((r) => r[0])),
    values: Buffer.concat(rows.map((r) => r[1])),
    method: "batch",
    syscalls: 1,
  };
}

const le = (value: number | bigint, size: number) => {
  const b = Buffer.alloc(size);
  if (size === 8) b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(value)));
  else b.writeUIntLE(Number(value), 0, size);
  return b;
};
const str = (text: string, size: number) => {
  const b = Buffer.alloc(size);
  b.write(text);
  return b;
};

describe("buildMetricPlan and planSamples", () => {
  const commKey = struct("key", [member("comm", comm, 0), member("pid", u32, 16), member("state", state, 20)], 24);

  it("makes each member of a BTF key struct a label decoded by its type", () => {
    const plan = buildMetricPlan(config({}), mapView(commKey, u64), decoders, ref);
    const key = Buffer.concat([str("bash", 16), le(42, 4), le(1, 4)]);
    expect(planSamples(entries([[key, le(7, 8)]]), plan, 1, base)).toEqual([{ labels: { ...base, comm: "bash", pid: "42", state: "SLEEPING" }, value: 7 }]);
  });

  it("sums rows whose labels decode equal, and lets explicit labels pick members", () => {
    const plan = buildMetricPlan(config({ labels: [{ name: "command", field: "comm" }] }), mapView(commKey, u64), decoders, ref);
    const row = (pid: number, value: number): [Buffer, Buffer] => [Buffer.concat([str("sh", 16), le(pid, 4), le(0, 4)]), le(value, 8)];
    expect(planSamples(entries([row(1, 2), row(2, 3)]), plan, 1, base)).toEqual([{ labels: { ...base, command: "sh" }, value: 5 }]);
  });

  it("runs decoder chains on a field's bytes and drops rows a decoder skips", () => {
    const key = struct("key", [member("id", u32, 0)], 4);
    const plan = buildMetricPlan(
      config({ labels: [{ name: "syscall", field: "id", decoders: [{ name: "uint" }, { name: "syscall" }, { name: "regexp", pattern: "^(read|write)$" }] }] }),
      mapView(key, u64),
      decoders,
      ref,
    );
    const samples = planSamples(
      entries([
        [le(0, 4), le(5, 8)],
        [le(1, 4), le(6, 8)],
        [le(59, 4), le(9, 8)],
      ]),
      plan,
      1,
      base,
    );
    expect(samples).toEqual([
      { labels: { ...base, syscall: "read" }, value: 5 },
      { labels: { ...base, syscall: "write" }, value: 6 },
    ]);
  });

  it("cuts labels by size and padding when the key has no BTF", () => {
    const plan = buildMetricPlan(
      config({
        labels: [
          { name: "a", size: 2, padding: 2 },
          { name: "ip", size: 4, decoders: [{ name: "inet_ip" }] },
        ],
      }),
      mapView(undefined, undefined, { keySize: 8, valueSize: 8 }),
      decoders,
      ref,
    );
    const key = Buffer.from([7, 0, 0xff, 0xff, 10, 0, 0, 1]);
    expect(planSamples(entries([[key, le(1, 8)]]), plan, 1, base)).toEqual([{ labels: { ...base, a: "7", ip: "10.0.0.1" }, value: 1 }]);
  });

  it("labels a scalar key as key, and a single-entry map without labels", () => {
    const plan = buildMetricPlan(config({}), mapView(u32, u64), decoders, ref);
    expect(planSamples(entries([[le(3, 4), le(1, 8)]]), plan, 1, base)).toEqual([{ labels: { ...base, key: "3" }, value: 1 }]);
    const single = buildMetricPlan(config({}), mapView(u32, u64, { maxEntries: 1 }), decoders, ref);
    expect(planSamples(entries([[le(0, 4), le(1, 8)]]), single, 1, base)).toEqual([{ labels: base, value: 1 }]);
  });

  it("reads a signed gauge from a member of a struct value, summed over CPUs", () => {
    const value = struct("val", [member("count", u64, 0), member("delta", s64, 8)], 16);
    const plan = buildMetricPlan(config({ type: "gauge", value: { field: "delta" } }), mapView(u32, value, {}, true), decoders, ref);
    const perCpu = Buffer.concat([le(1, 8), le(-5, 8), le(1, 8), le(2, 8)]);
    expect(planSamples(entries([[le(1, 4), perCpu]]), plan, 2, base)).toEqual([{ labels: { ...base, key: "1" }, value: -3 }]);
  });

  it("renders a per-CPU exp2 histogram: last key member is the bucket, CPUs summed, buckets filled and cumulative", () => {
    const key = struct("hist_key", [member("comm", comm, 0), member("bucket", u32, 16)], 20);
    const plan = buildMetricPlan(
      config({ name: "read_bytes", type: "histogram", histogram: { bucketType: "exp2", bucketMin: 0, bucketMax: 2 } }),
      mapView(key, u64, {}, true),
      decoders,
      ref,
    );
    const row = (bucket: number, cpu0: number, cpu1: number): [Buffer, Buffer] => [
      Buffer.concat([str("dd", 16), le(bucket, 4)]),
      Buffer.concat([le(cpu0, 8), le(cpu1, 8)]),
    ];
    const samples = planSamples(entries([row(2, 1, 1), row(0, 0, 3), row(3, 10, 9)]), plan, 2, base);
    const labels = { ...base, comm: "dd" };
    expect(samples).toEqual([
      { metricName: "read_bytes_bucket", labels: { ...labels, le: "1" }, value: 3 },
      { metricName: "read_bytes_bucket", labels: { ...labels, le: "2" }, value: 3 },
      { metricName: "read_bytes_bucket", labels: { ...labels, le: "4" }, value: 5 },
      { metricName: "read_bytes_bucket", labels: { ...labels, le: "+Inf" }, value: 5 },
      { metricName: "read_bytes_sum", labels, value: 19 },
      { metricName: "read_bytes_count", labels, value: 5 },
    ]);
  });

  it("serves a per-CPU counter per CPU with a cpu label when perCpu is set (the issue's 6-byte case: sized labels over a 4-byte key)", () => {
    const plan = buildMetricPlan(config({ perCpu: true, labels: [{ name: "irq", size: 4 }] }), mapView(u32, u64, {}, true), decoders, ref);
    const row = (irq: number, ...perCpu: number[]): [Buffer, Buffer] => [le(irq, 4), Buffer.concat(perCpu.map((v) => le(v, 8)))];
    expect(planSamples(entries([row(7, 1, 0, 5), row(9, 2, 3, 4)]), plan, 3, base)).toEqual([
      { labels: { ...base, irq: "7", cpu: "0" }, value: 1 },
      { labels: { ...base, irq: "7", cpu: "1" }, value: 0 },
      { labels: { ...base, irq: "7", cpu: "2" }, value: 5 },
      { labels: { ...base, irq: "9", cpu: "0" }, value: 2 },
      { labels: { ...base, irq: "9", cpu: "1" }, value: 3 },
      { labels: { ...base, irq: "9", cpu: "2" }, value: 4 },
    ]);
    // The same read without perCpu: the CPUs summed.
    const summed = buildMetricPlan(config({ labels: [{ name: "irq", size: 4 }] }), mapView(u32, u64, {}, true), decoders, ref);
    expect(planSamples(entries([row(7, 1, 0, 5)]), summed, 3, base)).toEqual([{ labels: { ...base, irq: "7" }, value: 6 }]);
  });

  it("sums rows that decode equal within each CPU, and reads 4-byte values from 8-byte CPU slots", () => {
    const plan = buildMetricPlan(
      config({ perCpu: true, labels: [{ name: "command", field: "comm" }] }),
      mapView(struct("key", [member("comm", comm, 0), member("pid", u32, 16)], 20), u32, {}, true),
      decoders,
      ref,
    );
    const row = (pid: number, cpu0: number, cpu1: number): [Buffer, Buffer] => [
      Buffer.concat([str("sh", 16), le(pid, 4)]),
      Buffer.concat([le(cpu0, 4), Buffer.from([0xff, 0xff, 0xff, 0xff]), le(cpu1, 4), Buffer.alloc(4)]),
    ];
    expect(planSamples(entries([row(1, 1, 10), row(2, 2, 20)]), plan, 2, base)).toEqual([
      { labels: { ...base, command: "sh", cpu: "0" }, value: 3 },
      { labels: { ...base, command: "sh", cpu: "1" }, value: 30 },
    ]);
  });

  it("renders a per-CPU histogram per CPU with perCpu", () => {
    const key = struct("hist_key", [member("bucket", u32, 0)], 4);
    const plan = buildMetricPlan(
      config({ name: "lat", type: "histogram", perCpu: true, histogram: { bucketType: "exp2", bucketMax: 1 } }),
      mapView(key, u64, {}, true),
      decoders,
      ref,
    );
    const row = (bucket: number, cpu0: number, cpu1: number): [Buffer, Buffer] => [le(bucket, 4), Buffer.concat([le(cpu0, 8), le(cpu1, 8)])];
    const samples = planSamples(entries([row(0, 1, 0), row(1, 2, 4)]), plan, 2, base);
    expect(samples.map((s) => [s.metricName, s.labels.cpu, s.labels.le, s.value])).toEqual([
      ["lat_bucket", "0", "1", 1],
      ["lat_bucket", "0", "2", 3],
      ["lat_bucket", "0", "+Inf", 3],
      ["lat_sum", "0", undefined, 5],
      ["lat_count", "0", undefined, 3],
      ["lat_bucket", "1", "1", 0],
      ["lat_bucket", "1", "2", 4],
      ["lat_bucket", "1", "+Inf", 4],
      ["lat_sum", "1", undefined, 8],
      ["lat_count", "1", undefined, 4],
    ]);
  });

  it("takes a histogram's bucket from the whole scalar key", () => {
    const plan = buildMetricPlan(
      config({ name: "h", type: "histogram", histogram: { bucketType: "linear", bucketMax: 1, bucketMultiplier: 10 } }),
      mapView(u32, u64),
      decoders,
      ref,
    );
    const samples = planSamples(entries([[le(1, 4), le(4, 8)]]), plan, 1, base);
    expect(samples.map((s) => [s.metricName, s.labels.le, s.value])).toEqual([
      ["h_bucket", "0", 0],
      ["h_bucket", "10", 4],
      ["h_bucket", "+Inf", 4],
      ["h_sum", undefined, 40],
      ["h_count", undefined, 4],
    ]);
  });

  const key = struct("key", [member("pid", u32, 0), member("comm", comm, 4)], 20);
  it.each([
    [
      "a label field the key lacks",
      config({ labels: [{ name: "x", field: "tgid" }] }),
      mapView(key, u64),
      /spec.metrics\[0\].labels\[0\].field of EbpfMap "default\/m": the key struct key has no member "tgid" \(members: pid \(unsigned int\), comm \(char\[16\]\)\)/,
    ],
    ["a label named like no member", config({ labels: [{ name: "tgid" }] }), mapView(key, u64), /labels\[0\].name .*no member "tgid"/],
    ["members on a scalar key", config({ labels: [{ name: "a", field: "a" }] }), mapView(u32, u64), /key is unsigned int, not a struct/],
    [
      "a histogram whose last member is a string",
      config({ type: "histogram", histogram: { bucketType: "exp2", bucketMax: 3 } }),
      mapView(key, u64),
      /integer bucket index .* but it is char\[16\]/,
    ],
    [
      "a histogram bucket label with decoders",
      config({ type: "histogram", histogram: { bucketType: "exp2", bucketMax: 3 }, labels: [{ name: "pid", decoders: [{ name: "uint" }] }] }),
      mapView(key, u64),
      /takes no decoders/,
    ],
    ["sized labels longer than the key", config({ labels: [{ name: "a", size: 8 }] }), mapView(u32, u64), /need 8 bytes but the key has 4/],
    ["perCpu on a map that is not per-CPU", config({ perCpu: true }), mapView(u32, u64), /spec.metrics\[0\].perCpu .*map "x" is a hash map, not a per-CPU one/],
    [
      "perCpu over a key member named cpu",
      config({ perCpu: true }),
      mapView(struct("k", [member("cpu", u32, 0)], 4), u64, {}, true),
      /perCpu .*already gives a label "cpu"/,
    ],
    [
      "a struct value without value.field",
      config({}),
      mapView(u32, struct("v", [member("n", u64, 0)], 8)),
      /value.field .*name the member to export \(members: n/,
    ],
    ["a value field that is not an integer", config({ value: { field: "comm" } }), mapView(u32, key), /value member "comm" is char\[16\]/],
    ["an unknown decoder", config({ labels: [{ name: "pid", decoders: [{ name: "pid_to_pod" }] }] }), mapView(key, u64), /no decoder named "pid_to_pod"/],
    [
      "a key member named like a reserved label",
      config({}),
      mapView(struct("k", [member("namespace", u32, 0)], 4), u64),
      /key member "namespace" .* is reserved \("namespace" is set by the agent on every sample\)/,
    ],
    [
      "a key member named like a scrape target's label (pod)",
      config({}),
      mapView(struct("k", [member("pod", u32, 0)], 4), u64),
      /key member "pod" of struct k is reserved \("pod" is a label of the scrape target/,
    ],
    [
      // It would become `namespace` in Prometheus (the install's relabelling): another tenant's.
      "a key member named exported_namespace",
      config({}),
      mapView(struct("k", [member("exported_namespace", u32, 0)], 4), u64),
      /key member "exported_namespace" .* starting with "exported_" are reserved for Prometheus/,
    ],
  ])("refuses %s with a message naming the field", (_what, cfg, map, message) => {
    expect(() => buildMetricPlan(cfg, map, decoders, ref)).toThrow(message);
  });

  it("refuses a 16-byte value with EOP_ERR_MAP_VALUE_UNSUPPORTED", () => {
    expect(() => buildMetricPlan(config({}), mapView(u32, undefined, { valueSize: 16 }), decoders, ref)).toThrow(
      expect.objectContaining({ code: "EOP_ERR_MAP_VALUE_UNSUPPORTED" }),
    );
  });
});
