import type { MapEntries, MapInfo } from "@ebpf-operator/libbpf";
import { describe, expect, it } from "vitest";
import { DecoderRegistry } from "../decoders/registry.js";
import { perCpuSlotSize, readValue } from "../scrape/map-values.js";
import { planRowsAll } from "../scrape/plan-rows.js";
import { metricConfigs } from "./metric-config.js";
import { buildMetricPlan, type MapView } from "./metric-plan.js";

function entries(keys: number[][], values: Buffer[], keySize: number, valueStride: number): MapEntries {
  return {
    count: keys.length,
    keySize,
    valueStride,
    keys: Buffer.from(keys.flat()),
    values: Buffer.concat(values),
    method: "batch",
    syscalls: 1,
  };
}

const u64 = (n: number | bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

const ref = { namespace: "default", name: "m" };
const base = { namespace: "default", ebpfmap: "m" };
const [config] = metricConfigs({ name: "x", type: "kprobe", target: "f", code: "c", program: "p", map: "m" });

/** A map whose BTF says its key is a struct: the flat spec ignores it. */
function map(info: Partial<MapInfo>, isPerCpu = false): MapView {
  return {
    info: { id: 1, name: "m", type: "hash", keySize: 4, valueSize: 8, maxEntries: 10, flags: 0, btfId: 1, btfKeyTypeId: 1, btfValueTypeId: 2, ...info },
    isPerCpu,
    describeKey: () => ({ kind: "struct", name: "k", size: info.keySize ?? 4, members: [] }),
    describeValue: () => undefined,
  };
}

const rows = (read: MapEntries, view: MapView, cpus = 1) =>
  planRowsAll(read, buildMetricPlan(config!, view, new DecoderRegistry(), ref), cpus, base).map((r) => ({ labels: r.labels, value: r.value }));

describe("the flat spec as a metric plan", () => {
  it("is spec.name and spec.map under the one name rule, with a default help", () => {
    expect(config).toMatchObject({ name: "x_total", type: "counter", map: "m", field: "spec", flat: true });
    expect(config!.help).toContain("m");
  });

  it("gives one sample without a key label for a map whose only key is 0", () => {
    expect(rows(entries([[0, 0, 0, 0]], [u64(42)], 4, 8), map({}))).toEqual([{ labels: base, value: 42 }]);
  });

  it("labels other keys with their decimal value (BTF is not consulted)", () => {
    expect(
      rows(
        entries(
          [
            [1, 0, 0, 0],
            [0, 1, 0, 0],
          ],
          [u64(1), u64(2)],
          4,
          8,
        ),
        map({}),
      ),
    ).toEqual([
      { labels: { ...base, key: "1" }, value: 1 },
      { labels: { ...base, key: "256" }, value: 2 },
    ]);
  });

  it("labels keys that are not integer-sized with hex", () => {
    expect(
      rows(
        entries(
          [
            [1, 2, 3],
            [4, 5, 6],
          ],
          [u64(1), u64(2)],
          3,
          8,
        ),
        map({ keySize: 3 }),
      ).map((s) => s.labels.key),
    ).toEqual(["0x010203", "0x040506"]);
  });

  it("sums the per-CPU slots of a per-CPU map, and has no key label with one entry", () => {
    const cpus = 3;
    const value = Buffer.concat([u64(5), u64(7), u64(11)]);
    expect(rows(entries([[0, 0, 0, 0]], [value], 4, cpus * 8), map({ maxEntries: 1 }, true), cpus)).toEqual([{ labels: base, value: 23 }]);
  });

  it("reads 4-byte per-CPU values from 8-byte aligned slots", () => {
    expect(perCpuSlotSize(4)).toBe(8);
    const value = Buffer.from([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    expect(readValue(value, 0, 4, true, 2)).toBe(3);
  });

  it("returns no samples for an empty map", () => {
    expect(rows(entries([], [], 4, 8), map({}))).toEqual([]);
  });

  it("refuses values that are not integer-sized, naming the size", () => {
    expect(() => buildMetricPlan(config!, map({ valueSize: 16 }), new DecoderRegistry(), ref)).toThrow(/16-byte values/);
    expect(() => buildMetricPlan(config!, map({ valueSize: 16 }), new DecoderRegistry(), ref)).toThrow(
      expect.objectContaining({ code: "EOP_ERR_MAP_VALUE_UNSUPPORTED" }),
    );
  });
});
