/**
 * Runs a metric plan over one read of a map: decode each row's labels, read its value (summed
 * over CPUs, or one value per CPU with a `cpu` label when the metric asks: `perCpu`), sum rows whose labels come out equal, and for histograms collect bucket counts per
 * label set. The series come out either as exposition text (`planText`) or as rows (`planRows`),
 * from the same walk.
 *
 * Rows are grouped by their rendered label text (`,name="value"…`, escaped), which is both the
 * key that sums equal label sets and the text the exposition prints, so a row costs no objects.
 * A plan whose rows cannot collide (`uniqueRows`: injective labels over the whole key) skips
 * the grouping. Decoded label text is cached per label and field bytes for one walk — in a
 * histogram every bucket row of a label set repeats the same label bytes — unless the first
 * 4096 rows show the field's values to be mostly distinct (a pid, say): then caching costs more
 * than it saves and that label is decoded row by row.
 *
 * The walks are generators that yield every STEP_ROWS rows, so a large map is spread over
 * several event-loop turns.
 */
import type { MapEntries } from "@ebpf-operator/libbpf";
import { CPU_LABEL } from "../api/metric-names.js";
import type { MetricPlan, NumberPlan } from "../plan/metric-plan.js";
import { SKIP } from "../plugin/sdk.js";
import { LineChunks, escapeLabelValue, labelPairs } from "./exposition.js";
import type { Row } from "./family.js";
import { histogramSeries } from "./histogram-series.js";
import { isZero, perCpuSlotSize, readInteger } from "./map-values.js";

/** Rows (or groups) between two yields of the walks. */
export const STEP_ROWS = 128;

/** Label-cache statistics are judged after this many rows. */
const CACHE_PROBE_ROWS = 4096;

/** The labels every series of a source carries. */
export interface BaseLabels {
  namespace: string;
  ebpfmap: string;
}

/** Receives each series of a read once, labels summed. */
interface SeriesVisitor {
  /** `key`: the series' `,name="text"` pairs (escaped); `texts`: the decoded values, if asked for. */
  value(key: string, texts: readonly string[] | undefined, value: number): void;
  histogram(key: string, texts: readonly string[] | undefined, counts: ReadonlyMap<number, number>): void;
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

function* walk(entries: MapEntries, plan: MetricPlan, cpus: number, visitor: SeriesVisitor, wantTexts: boolean): Generator<void, void, undefined> {
  const { bucket } = plan;
  const keys = entries.keys;
  // The flat spec's single counter: one row, key 0, no `key` label.
  const labels = plan.unlabelledZeroKey && entries.count === 1 && isZero(keys, 0, entries.keySize) ? [] : plan.labels;
  // One label over a key no two rows share: every value is new, a cache would only cost.
  const cacheable = !(plan.uniqueRows && labels.length === 1);
  const caches: (Map<number | string, DecodedLabel | typeof SKIP> | undefined)[] = labels.map(() => (cacheable ? new Map() : undefined));
  const hits = new Array<number>(labels.length).fill(0);
  const prefixes = labels.map((label) => `,${label.name}="`);
  const slot = perCpuSlotSize(plan.valueSize);
  const grouped = !plan.uniqueRows;
  const values = new Map<string, number>();
  const buckets = new Map<string, Map<number, number>>();
  const groupTexts = wantTexts && grouped ? new Map<string, string[]>() : undefined;
  // perCpu: each CPU's slot is a series of its own, its number the last label.
  const cpuPairs = plan.cpuLabel ? Array.from({ length: cpus }, (_, cpu) => `,${CPU_LABEL}="${cpu}"`) : undefined;
  const texts = wantTexts ? new Array<string>(labels.length + (cpuPairs ? 1 : 0)) : undefined;
  const add = (key: string, value: number, bucketIndex: number): void => {
    if (!grouped) {
      visitor.value(key, texts, value);
    } else if (bucket) {
      let counts = buckets.get(key);
      if (!counts) {
        counts = new Map();
        buckets.set(key, counts);
        if (groupTexts) groupTexts.set(key, texts!.slice());
      }
      counts.set(bucketIndex, (counts.get(bucketIndex) ?? 0) + value);
    } else {
      const sum = values.get(key);
      if (sum === undefined) {
        values.set(key, value);
        if (groupTexts) groupTexts.set(key, texts!.slice());
      } else {
        values.set(key, sum + value);
      }
    }
  };
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
        decoded = text === SKIP ? SKIP : { text, pair: `${prefixes[j]}${label.needsEscape ? escapeLabelValue(text) : text}"` };
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
    const bucketIndex = bucket ? readInteger(keys, keyBase + bucket.slice.offset, bucket.slice.size, bucket.signed) : 0;
    const valueBase = row * entries.valueStride;
    if (!cpuPairs) {
      add(key, readNumber(entries.values, valueBase, plan.value, plan.perCpu, slot, cpus), bucketIndex);
      continue;
    }
    const { offset, size } = plan.value.slice;
    for (let cpu = 0; cpu < cpus; cpu++) {
      if (texts) texts[labels.length] = String(cpu);
      add(key + cpuPairs[cpu]!, readInteger(entries.values, valueBase + cpu * slot + offset, size, plan.value.signed), bucketIndex);
    }
  }
  let n = 0;
  for (const [key, value] of values) {
    if (++n % STEP_ROWS === 0) yield;
    visitor.value(key, groupTexts?.get(key), value);
  }
  for (const [key, counts] of buckets) {
    if (++n % 8 === 0) yield;
    visitor.histogram(key, groupTexts?.get(key), counts);
  }
}

/** `base` (`namespace="…",ebpfmap="…"`) and a series' `,name="…"` pairs as one label text. */
function joinLabels(base: string, key: string): string {
  if (base === "") return key.slice(1);
  return base + key;
}

/** The read's sample lines in pieces (a piece may be empty: a step boundary). */
export function* planText(entries: MapEntries, plan: MetricPlan, cpus: number, base: BaseLabels): Generator<string, void, undefined> {
  const baseText = labelPairs({ namespace: base.namespace, ebpfmap: base.ebpfmap });
  const name = plan.config.name;
  const out = new LineChunks();
  const visitor: SeriesVisitor = {
    value: (key, _texts, value) => out.add(name, joinLabels(baseText, key), value),
    histogram: (key, _texts, counts) => {
      const labels = joinLabels(baseText, key);
      const series = histogramSeries(plan.layout!, counts);
      const le = labels === "" ? 'le="' : `${labels},le="`;
      for (const [bound, count] of series.buckets) out.add(`${name}_bucket`, `${le}${bound}"`, count);
      out.add(`${name}_sum`, labels, series.sum);
      out.add(`${name}_count`, labels, series.count);
    },
  };
  for (const _ of walk(entries, plan, cpus, visitor, false)) yield out.take();
  yield out.finish();
}

/** The read's samples as rows, in batches (a batch may be empty: a step boundary). */
export function* planRows(entries: MapEntries, plan: MetricPlan, cpus: number, base: BaseLabels): Generator<Row[], void, undefined> {
  const name = plan.config.name;
  const namespace = base.namespace;
  const labelNames = plan.labels.map((l) => l.name);
  if (plan.cpuLabel) labelNames.push(CPU_LABEL);
  let batch: Row[] = [];
  const labelsOf = (texts: readonly string[] | undefined): Record<string, string> => {
    const labels: Record<string, string> = { namespace: base.namespace, ebpfmap: base.ebpfmap };
    if (texts) for (let j = 0; j < texts.length; j++) labels[labelNames[j]!] = texts[j]!;
    return labels;
  };
  const visitor: SeriesVisitor = {
    value: (_key, texts, value) => void batch.push({ name, namespace, labels: labelsOf(texts), value }),
    histogram: (_key, texts, counts) => {
      const labels = labelsOf(texts);
      const series = histogramSeries(plan.layout!, counts);
      for (const [le, count] of series.buckets) batch.push({ name: `${name}_bucket`, namespace, labels: { ...labels, le }, value: count });
      batch.push({ name: `${name}_sum`, namespace, labels, value: series.sum });
      batch.push({ name: `${name}_count`, namespace, labels, value: series.count });
    },
  };
  for (const _ of walk(entries, plan, cpus, visitor, true)) {
    yield batch;
    batch = [];
  }
  yield batch;
}

/** All rows of a read at once (tests, tools). */
export function planRowsAll(entries: MapEntries, plan: MetricPlan, cpus: number, base: BaseLabels): Row[] {
  const out: Row[] = [];
  for (const batch of planRows(entries, plan, cpus, base)) out.push(...batch);
  return out;
}

/** All text of a read at once (tests, tools). */
export function planTextAll(entries: MapEntries, plan: MetricPlan, cpus: number, base: BaseLabels): string {
  let out = "";
  for (const piece of planText(entries, plan, cpus, base)) out += piece;
  return out;
}
