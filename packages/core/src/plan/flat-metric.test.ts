import type { MapEntries } from "@ebpf-operator/libbpf";
import { describe, expect, it } from "vitest";
import { checkFlatMap, flatMetricConfig, flatSamples } from "./flat-metric.js";
import { perCpuSlotSize, readValue } from "../scrape/map-values.js";

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

const base = { namespace: "default", ebpfmap: "m" };

describe("flatSamples", () => {
  it("gives one sample without a key label for a map whose only key is 0", () => {
    const samples = flatSamples(entries([[0, 0, 0, 0]], [u64(42)], 4, 8), { valueSize: 8, maxEntries: 10 }, false, 1, base);
    expect(samples).toEqual([{ labels: base, value: 42 }]);
  });

  it("labels other keys with their decimal value", () => {
    const samples = flatSamples(entries([[1, 0, 0, 0], [0, 1, 0, 0]], [u64(1), u64(2)], 4, 8), { valueSize: 8, maxEntries: 10 }, false, 1, base);
    expect(samples).toEqual([
      { labels: { ...base, key: "1" }, value: 1 },
      { labels: { ...base, key: "256" }, value: 2 },
    ]);
  });

  it("labels keys that are not integer-sized with hex", () => {
    const samples = flatSamples(entries([[1, 2, 3], [4, 5, 6]], [u64(1), u64(2)], 3, 8), { valueSize: 8, maxEntries: 10 }, false, 1, base);
    expect(samples.map((s) => s.labels.key)).toEqual(["0x010203", "0x040506"]);
  });

  it("sums the per-CPU slots of a per-CPU map", () => {
    const cpus = 3;
    const value = Buffer.concat([u64(5), u64(7), u64(11)]);
    const samples = flatSamples(entries([[0, 0, 0, 0]], [value], 4, cpus * 8), { valueSize: 8, maxEntries: 1 }, true, cpus, base);
    expect(samples[0]!.value).toBe(23);
  });

  it("reads 4-byte per-CPU values from 8-byte aligned slots", () => {
    expect(perCpuSlotSize(4)).toBe(8);
    const value = Buffer.from([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    expect(readValue(value, 0, 4, true, 2)).toBe(3);
  });

  it("returns no samples for an empty map", () => {
    expect(flatSamples(entries([], [], 4, 8), { valueSize: 8, maxEntries: 10 }, false, 1, base)).toEqual([]);
  });
});

describe("checkFlatMap", () => {
  const config = flatMetricConfig({ name: "x", type: "kprobe", target: "f", code: "c", program: "p", map: "m" });
  it("accepts integer-sized values and refuses others with the size in the message", () => {
    const info = { id: 1, name: "m", type: "hash", keySize: 4, maxEntries: 1, flags: 0, btfId: 0, btfKeyTypeId: 0, btfValueTypeId: 0 };
    expect(() => checkFlatMap({ ...info, valueSize: 8 }, config, { namespace: "a", name: "b" })).not.toThrow();
    expect(() => checkFlatMap({ ...info, valueSize: 16 }, config, { namespace: "a", name: "b" })).toThrow(/16-byte values/);
  });
  it("derives a valid counter name and a default help", () => {
    expect(config.name).toBe("x_total");
    expect(config.help).toContain("m");
  });
});
