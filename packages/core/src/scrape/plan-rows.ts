/**
 * Runs a metric plan over one read of a map: decode each row's labels, read its value (summed
 * over CPUs), sum rows whose labels come out equal, and for histograms collect bucket counts per
 * label set and render `_bucket`/`_sum`/`_count`.
 *
 * Rows are grouped by their rendered label text (`,name="value"…`, escaped), which is both the
 * key that sums equal label sets and the text the exposition prints, so a row costs no objects.
 * Decoded label text is cached per label and field bytes for the duration of one call (one
 * scrape) — in a histogram every bucket row of a label set repeats the same label bytes — unless
 * the first 4096 rows show the field's values to be mostly distinct (a pid, say): then caching
 * costs more than it saves and that label is decoded row by row.
 *
 * The work is a generator that yields every STEP_ROWS rows, so the collector can spread a large
 * map over several event-loop turns (exposition.ts); planSamples runs it at once and returns
 * sample objects (tests, tools).
 */
import type { MapEntries } from "@ebpf-operator/libbpf";
import { SKIP } from "../plugin/sdk.js";
import { escapeLabelValue, runAtOnce, type LineWriter } from "./exposition.js";
import { histogramSeries } from "../plan/histogram.js";
import { perCpuSlotSize, readInteger } from "./map-values.js";
import type { MetricPlan, NumberPlan } from "../plan/metric-plan.js";

/** One sample as prom-client's registry renders it (`metricName` for histogram series). */
export interface PromValue {
  labels: Record<string, string>;
  value: number;
  metricName?: string;
}

/** Rows (or groups) between two yields of the step generators. */
export const STEP_ROWS = 128;

/** Label-cache statistics are judged after this many rows. */
const CACHE_PROBE_ROWS = 4096;

interface Grouped {
  /** Label text → summed value (counters, gauges). */
  values: Map<string, number>;
  /** Label text → observations per bucket index (histograms). */
  buckets: Map<string, Map<number, number>>;
  /** Label text → the decoded label values, kept only when asked for (planSamples). */
  texts: Map<string, string[]> | undefined;
}

interface DecodedLabel {
  text: string;
  /** `,name="escaped text"` */
  pair: string;
}

function readNumber(values: Buffer, base: number, plan: NumberPlan, perCpu: boolean, slot: number, cpus: number): number {
  const { offset, size } = plan.slice;
  if (!perCpu) return readInteger(values, base + offset, size, plan.signed);
  let sum = 0;
  for (let cpu = 0; cpu < cpus; cpu++) sum += readInteger(values, base + cpu * slot + offset, size, plan.signed);
  return sum;
}

function* groupRows(entries: MapEntries, plan: MetricPlan, cpus: number, out: Grouped): Generator<void, void, undefined> {
  const { labels, bucket } = plan;
  const keys = entries.keys;
  const caches: (Map<number | string, DecodedLabel | typeof SKIP> | undefined)[] = labels.map(() => new Map());
  const hits = new Array<number>(labels.length).fill(0);
  const prefixes = labels.map((label) => `,${label.name}="`);
  const slot = perCpuSlotSize(plan.valueSize);
  const texts = out.texts ? new Array<string>(labels.length) : undefined;
  rows: for (let row = 0; row < entries.count; row++) {
    if (row % STEP_ROWS === STEP_ROWS - 1) yield;
    const keyBase = row * entries.keySize;
    let key = "";
    for (let j = 0; j < labels.length; j++) {
      const label = labels[j]!;
      const start = keyBase + label.slice.offset;
      const size = label.slice.size;
      const cache = caches[j];
      let cacheKey: number | string = 0;
      let decoded: DecodedLabel | typeof SKIP | undefined;
      if (cache) {
        cacheKey = size <= 6 ? keys.readUIntLE(start, size) : keys.toString("latin1", start, start + size);
        decoded = cache.get(cacheKey);
        if (decoded !== undefined) hits[j]!++;
      }
      if (decoded === undefined) {
        const text = label.decodeAt ? label.decodeAt(keys, start) : label.decode(keys.subarray(start, start + size));
        decoded = text === SKIP ? SKIP : { text, pair: `${prefixes[j]}${escapeLabelValue(text)}"` };
        if (cache) {
          cache.set(cacheKey, decoded);
          // Mostly distinct values: the cache only costs. Decode this label row by row from here.
          if (row >= CACHE_PROBE_ROWS && hits[j]! * 4 < row) caches[j] = undefined;
        }
      }
      if (decoded === SKIP) continue rows;
      key += decoded.pair;
      if (texts) texts[j] = decoded.text;
    }
    const value = readNumber(entries.values, row * entries.valueStride, plan.value, plan.perCpu, slot, cpus);
    if (bucket) {
      const index = readInteger(keys, keyBase + bucket.slice.offset, bucket.slice.size, bucket.signed);
      let counts = out.buckets.get(key);
      if (!counts) {
        counts = new Map();
        out.buckets.set(key, counts);
        if (texts) out.texts!.set(key, texts.slice());
      }
      counts.set(index, (counts.get(index) ?? 0) + value);
    } else {
      const sum = out.values.get(key);
      if (sum === undefined) {
        out.values.set(key, value);
        if (texts) out.texts!.set(key, texts.slice());
      } else {
        out.values.set(key, sum + value);
      }
    }
  }
}

/** `base` (`namespace="…",ebpfmap="…"`) and a group's `,name="…"` pairs as one label text. */
function joinLabels(base: string, key: string): string {
  if (base === "") return key.slice(1);
  return base + key;
}

/**
 * Decodes, sums and renders one read of a map into `writer`, yielding every STEP_ROWS rows.
 * `baseLabels` is the rendered text of the labels every series carries (exposition.labelPairs).
 */
export function* planLines(entries: MapEntries, plan: MetricPlan, cpus: number, baseLabels: string, writer: LineWriter): Generator<void, void, undefined> {
  const grouped: Grouped = { values: new Map(), buckets: new Map(), texts: undefined };
  yield* groupRows(entries, plan, cpus, grouped);
  const name = plan.config.name;
  let n = 0;
  if (!plan.bucket) {
    for (const [key, value] of grouped.values) {
      if (++n % STEP_ROWS === 0) yield;
      writer.add(name, joinLabels(baseLabels, key), value);
    }
    return;
  }
  for (const [key, counts] of grouped.buckets) {
    if (++n % 8 === 0) yield;
    const labels = joinLabels(baseLabels, key);
    const series = histogramSeries(plan.layout!, counts);
    const le = labels === "" ? 'le="' : `${labels},le="`;
    for (const [bound, count] of series.buckets) writer.add(`${name}_bucket`, `${le}${bound}"`, count);
    writer.add(`${name}_sum`, labels, series.sum);
    writer.add(`${name}_count`, labels, series.count);
  }
}

/** The same samples as objects, computed at once. */
export function planSamples(entries: MapEntries, plan: MetricPlan, cpus: number, baseLabels: Readonly<Record<string, string>>): PromValue[] {
  const grouped: Grouped = { values: new Map(), buckets: new Map(), texts: new Map() };
  runAtOnce(groupRows(entries, plan, cpus, grouped));
  const { labels } = plan;
  const groupLabels = (key: string): Record<string, string> => {
    const texts = grouped.texts!.get(key)!;
    const out: Record<string, string> = { ...baseLabels };
    for (let j = 0; j < labels.length; j++) out[labels[j]!.name] = texts[j]!;
    return out;
  };
  const out: PromValue[] = [];
  if (!plan.bucket) {
    for (const [key, value] of grouped.values) out.push({ labels: groupLabels(key), value });
    return out;
  }
  const name = plan.config.name;
  for (const [key, counts] of grouped.buckets) {
    const labelSet = groupLabels(key);
    const series = histogramSeries(plan.layout!, counts);
    for (const [le, count] of series.buckets) out.push({ metricName: `${name}_bucket`, labels: { ...labelSet, le }, value: count });
    out.push({ metricName: `${name}_sum`, labels: labelSet, value: series.sum });
    out.push({ metricName: `${name}_count`, labels: labelSet, value: series.count });
  }
  return out;
}
