/**
 * Runs a metric plan over one read of a map: decode each row's labels, read its value (summed
 * over CPUs), sum rows whose labels come out equal, and for histograms collect bucket counts per
 * label set and render `_bucket`/`_sum`/`_count`. Decoded label text is cached per label and
 * field bytes for the duration of one call (one scrape): in a histogram, every bucket row of a
 * label set repeats the same label bytes.
 */
import type { MapEntries } from "@ebpf-operator/libbpf";
import { SKIP } from "../plugin/sdk.js";
import { histogramSeries } from "./histogram.js";
import { perCpuSlotSize, readInteger } from "./map-values.js";
import type { MetricPlan, NumberPlan } from "./metric-plan.js";

/** One sample as prom-client's registry renders it (`metricName` for histogram series). */
export interface PromValue {
  labels: Record<string, string>;
  value: number;
  metricName?: string;
}

interface Group {
  texts: string[];
  value: number;
  counts: Map<number, number> | undefined;
}

function readNumber(values: Buffer, base: number, plan: NumberPlan, perCpu: boolean, slot: number, cpus: number): number {
  const { offset, size } = plan.slice;
  if (!perCpu) return readInteger(values, base + offset, size, plan.signed);
  let sum = 0;
  for (let cpu = 0; cpu < cpus; cpu++) sum += readInteger(values, base + cpu * slot + offset, size, plan.signed);
  return sum;
}

export function planSamples(entries: MapEntries, plan: MetricPlan, cpus: number, baseLabels: Readonly<Record<string, string>>): PromValue[] {
  const { labels, bucket } = plan;
  const caches = labels.map(() => new Map<string, string | typeof SKIP>());
  const groups = new Map<string, Group>();
  const slot = perCpuSlotSize(plan.valueSize);
  const texts: string[] = new Array<string>(labels.length);
  rows: for (let row = 0; row < entries.count; row++) {
    const keyBase = row * entries.keySize;
    for (let j = 0; j < labels.length; j++) {
      const { slice, decode } = labels[j]!;
      const start = keyBase + slice.offset;
      const cacheKey = entries.keys.toString("latin1", start, start + slice.size);
      const cache = caches[j]!;
      let text = cache.get(cacheKey);
      if (text === undefined) {
        text = decode(entries.keys.subarray(start, start + slice.size));
        cache.set(cacheKey, text);
      }
      if (text === SKIP) continue rows;
      texts[j] = text;
    }
    const value = readNumber(entries.values, row * entries.valueStride, plan.value, plan.perCpu, slot, cpus);
    const groupKey = texts.join("\u0000");
    let group = groups.get(groupKey);
    if (!group) {
      group = { texts: texts.slice(), value: 0, counts: bucket ? new Map() : undefined };
      groups.set(groupKey, group);
    }
    if (bucket) {
      const index = readInteger(entries.keys, keyBase + bucket.slice.offset, bucket.slice.size, bucket.signed);
      group.counts!.set(index, (group.counts!.get(index) ?? 0) + value);
    } else {
      group.value += value;
    }
  }

  const out: PromValue[] = [];
  const name = plan.config.name;
  for (const group of groups.values()) {
    const groupLabels: Record<string, string> = { ...baseLabels };
    for (let j = 0; j < labels.length; j++) groupLabels[labels[j]!.name] = group.texts[j]!;
    if (!bucket) {
      out.push({ labels: groupLabels, value: group.value });
      continue;
    }
    const series = histogramSeries(plan.layout!, group.counts!);
    for (const [le, count] of series.buckets) out.push({ metricName: `${name}_bucket`, labels: { ...groupLabels, le }, value: count });
    out.push({ metricName: `${name}_sum`, labels: groupLabels, value: series.sum });
    out.push({ metricName: `${name}_count`, labels: groupLabels, value: series.count });
  }
  return out;
}
