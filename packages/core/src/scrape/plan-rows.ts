/**
 * Runs a metric plan over one read of a map: decode each row's labels, read its value (summed
 * over CPUs, or one value per CPU with a `cpu` label when the metric asks: `perCpu`), sum rows
 * whose labels come out equal, and for histograms collect bucket counts per label set. The
 * series come out either as exposition text (`planBytes`, `planText`) or as rows (`planRows`),
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
 * The text is written as bytes (`ByteLines`): a plan whose rows are all distinct series writes
 * each row's line directly, integer labels and values as digits, other labels as bytes encoded
 * once per distinct value; grouped plans and histograms render their summed series the same way
 * from their label text.
 *
 * The walks are generators that yield every STEP_ROWS rows, so a large map is spread over
 * several event-loop turns.
 *
 * Series cap (`maxSeries`, the tenancy policy's quotas.seriesPerEbpfMap): the first label sets
 * met in the read are served; every further row is summed into one overflow series
 * (`overflow="true"`, the map's own labels left out) and counted in `dropped`, so one resource
 * serves at most `maxSeries` label sets plus one, whatever its map holds. A histogram label set
 * costs as many series as it renders (its buckets, `_sum`, `_count`); with `perCpu` each CPU's
 * series is a label set of its own (`cpu` among its labels). Which label sets are kept
 * follows the map's iteration order: the cap bounds the output, it does not choose. The direct
 * byte path (distinct rows, summed CPUs) is taken only when the read cannot reach the cap; any
 * other read goes through `walk`, which applies it.
 */
import { endianness } from "node:os";
import type { MapEntries } from "@ebpf-operator/libbpf";
import { CPU_LABEL } from "../api/metric-names.js";
import type { LabelPlan, MetricPlan } from "../plan/metric-plan.js";
import { SKIP } from "../plugin/sdk.js";
import { bodyChunks, ByteLines, STEP } from "./byte-lines.js";
import { escapeLabelValue, labelPairs } from "./exposition.js";
import type { Row } from "./family.js";
import { histogramSeries } from "./histogram-series.js";
import { integerReader, isZero, perCpuSlotSize, readInteger, type IntegerReader } from "./map-values.js";

/** Rows (or groups) between two yields of the walks. */
export const STEP_ROWS = 128;

/** Label-cache statistics are judged after this many rows. */
const CACHE_PROBE_ROWS = 4096;

/** The labels every series of a source carries. */
export interface BaseLabels {
  namespace: string;
  ebpfmap: string;
}

/** What a walk may serve, and what it reports back. */
export interface SeriesCap {
  /** Most series served (the overflow series aside); absent: no cap. */
  maxSeries?: number;
  /** Called once per walk with the label sets summed into the overflow series (only when some were). */
  onDropped?: (labelSets: number) => void;
}

/** The overflow series' label pair (`overflow` is reserved: no map defines it). */
const OVERFLOW_KEY = ',overflow="true"';

/** Receives each series of a read once, labels summed. */
interface SeriesVisitor {
  /**
   * `key`: the series' `,name="text"` pairs (escaped); `texts`: the decoded values, if asked
   * for (undefined for the overflow series, whose key is OVERFLOW_KEY).
   */
  value(key: string, texts: readonly string[] | undefined, value: number): void;
  histogram(key: string, texts: readonly string[] | undefined, counts: ReadonlyMap<number, number>): void;
}

interface DecodedLabel {
  text: string;
  /** `,name="escaped text"` */
  pair: string;
}

const LITTLE_ENDIAN = endianness() === "LE";

/**
 * Whether every row of the read is a series of its own: always for `uniqueRows` plans; for plans
 * with `distinctWhen`, when every key is in canonical form (a pass over the keys, in steps).
 */
function* distinctRows(entries: MapEntries, plan: MetricPlan): Generator<void, boolean, undefined> {
  if (plan.uniqueRows) return true;
  const when = plan.distinctWhen;
  if (!when) return false;
  const { keys, keySize, count } = entries;
  const { nulPadded, bools, zero } = when;
  for (let row = 0; row < count; row++) {
    if (row % (STEP_ROWS * 8) === STEP_ROWS * 8 - 1) yield;
    const base = row * keySize;
    for (const { offset, size } of zero) for (let i = base + offset; i < base + offset + size; i++) if (keys[i] !== 0) return false;
    for (const { offset } of bools) if (keys[base + offset]! > 1) return false;
    for (const { offset, size } of nulPadded) {
      const end = base + offset + size;
      let i = base + offset;
      while (i < end && keys[i] !== 0) i++;
      for (; i < end; i++) if (keys[i] !== 0) return false;
    }
  }
  return true;
}

/**
 * `distinct`: what distinctRows found, when the caller has already asked (else the walk asks).
 */
function* walk(
  entries: MapEntries,
  plan: MetricPlan,
  cpus: number,
  visitor: SeriesVisitor,
  wantTexts: boolean,
  cap: SeriesCap = {},
  distinct?: boolean,
): Generator<void, void, undefined> {
  const { bucket } = plan;
  // Each label set's cost against the cap; the cap in label sets.
  const cost = bucket && plan.layout ? histogramSeries(plan.layout, new Map()).buckets.length + 2 : 1;
  const maxSets = cap.maxSeries === undefined ? Infinity : Math.floor(cap.maxSeries / cost);
  let sets = 0;
  let overflowValue: number | undefined;
  let overflowCounts: Map<number, number> | undefined;
  const droppedKeys = new Set<string>();
  const keys = entries.keys;
  // The flat spec's single counter: one row, key 0, no `key` label.
  const labels = plan.unlabelledZeroKey && entries.count === 1 && isZero(keys, 0, entries.keySize) ? [] : plan.labels;
  distinct ??= !bucket && (yield* distinctRows(entries, plan));
  // One label over a key no two rows share: every value is new, a cache would only cost.
  const cacheable = !(distinct && labels.length === 1);
  const caches: (Map<number | string, DecodedLabel | typeof SKIP> | undefined)[] = labels.map(() => (cacheable ? new Map() : undefined));
  const hits = new Array<number>(labels.length).fill(0);
  const prefixes = labels.map((label) => `,${label.name}="`);
  const readValue = valueReader(plan, cpus);
  const grouped = !distinct;
  const values = new Map<string, number>();
  const buckets = new Map<string, Map<number, number>>();
  const groupTexts = wantTexts && grouped ? new Map<string, string[]>() : undefined;
  // perCpu: each CPU's slot is a series of its own, its number the last label.
  const cpuPairs = plan.cpuLabel ? Array.from({ length: cpus }, (_, cpu) => `,${CPU_LABEL}="${cpu}"`) : undefined;
  const readSlot = integerReader(plan.value.slice.size, plan.value.signed);
  const slot = perCpuSlotSize(plan.valueSize);
  const texts = wantTexts ? new Array<string>(labels.length + (cpuPairs ? 1 : 0)) : undefined;
  // Every series the walk would serve goes through here (with perCpu, one per CPU), so the cap
  // counts what is served, per-CPU series included.
  const add = (key: string, value: number, bucketIndex: number): void => {
    const known = grouped && (bucket ? buckets.has(key) : values.has(key));
    if (!known) {
      if (sets >= maxSets) {
        // Over the cap: into the overflow series (the map's labels, `cpu` included, left out).
        droppedKeys.add(key);
        if (bucket) {
          overflowCounts ??= new Map();
          overflowCounts.set(bucketIndex, (overflowCounts.get(bucketIndex) ?? 0) + value);
        } else {
          overflowValue = (overflowValue ?? 0) + value;
        }
        return;
      }
      sets++;
    }
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
      add(key, readValue(entries.values, valueBase), bucketIndex);
      continue;
    }
    const at = valueBase + plan.value.slice.offset;
    for (let cpu = 0; cpu < cpus; cpu++) {
      if (texts) texts[labels.length] = String(cpu);
      add(key + cpuPairs[cpu]!, readSlot(entries.values, at + cpu * slot), bucketIndex);
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
  if (overflowValue !== undefined) visitor.value(OVERFLOW_KEY, undefined, overflowValue);
  if (overflowCounts !== undefined) visitor.histogram(OVERFLOW_KEY, undefined, overflowCounts);
  if (droppedKeys.size > 0) cap.onDropped?.(droppedKeys.size);
}

/** `base` (`namespace="…",ebpfmap="…"`) and a series' `,name="…"` pairs as one label text. */
function joinLabels(base: string, key: string): string {
  if (base === "") return key.slice(1);
  return base + key;
}

const STEPS: readonly Uint8Array[] = [STEP];
const TWO_21 = 2097152;

/**
 * Writes one label's value text of the row at `at` (key bytes), or returns false for a row the
 * decoder skips. Integers print their digits; other labels their decoded text, escaped, encoded
 * once per distinct field value while that pays (the same cache rule as `walk`).
 */
type LabelWriter = (out: ByteLines, keys: Buffer, at: number, row: number) => boolean;

function labelWriter(label: LabelPlan): LabelWriter {
  const int = label.integer;
  const { size } = label.slice;
  const text = (keys: Buffer, at: number): string | typeof SKIP => (label.decodeAt ? label.decodeAt(keys, at) : label.decode(keys.subarray(at, at + size)));
  if (int) {
    const { signed } = int;
    const read = integerReader(int.size, signed);
    if (int.size <= 4) return (out, keys, at) => (out.int(read(keys, at)), true);
    // 8 bytes: exact as a double below 2^53 in magnitude; beyond, the decoder's (BigInt) text.
    const high = integerReader(4, signed);
    return (out, keys, at) => {
      const hi = high(keys, at + (LITTLE_ENDIAN ? 4 : 0));
      if (hi < TWO_21 && hi >= -TWO_21) out.int(read(keys, at));
      else out.text(text(keys, at) as string);
      return true;
    };
  }
  if (label.cString) {
    // The bytes up to the NUL are the text's UTF-8 when they are printable ASCII other than a
    // quote or backslash (a comm, a path): copied as they are. Anything else is decoded and escaped.
    return (out, keys, at) => {
      const end = at + size;
      let i = at;
      for (; i < end; i++) {
        const c = keys[i]!;
        if (c === 0) break;
        if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
          out.text(escapeLabelValue(text(keys, at) as string));
          return true;
        }
      }
      out.slice(keys, at, i);
      return true;
    };
  }
  let cache: Map<number | string, Buffer | typeof SKIP> | undefined = new Map();
  let hits = 0;
  const encode = (t: string | typeof SKIP): Buffer | typeof SKIP => (t === SKIP ? SKIP : Buffer.from(label.needsEscape ? escapeLabelValue(t) : t));
  return (out, keys, at, row) => {
    if (cache === undefined) {
      const t = text(keys, at);
      if (t === SKIP) return false;
      out.text(label.needsEscape ? escapeLabelValue(t) : t);
      return true;
    }
    const cacheKey = size <= 6 ? keys.readUIntLE(at, size) : keys.toString("latin1", at, at + size);
    let bytes = cache.get(cacheKey);
    if (bytes === undefined) {
      bytes = encode(text(keys, at));
      cache.set(cacheKey, bytes);
      // Mostly distinct values: the cache only costs. Decode row by row from here.
      if (row >= CACHE_PROBE_ROWS && hits * 4 < row) cache = undefined;
    } else hits++;
    if (bytes === SKIP) return false;
    out.bytes(bytes);
    return true;
  };
}

/**
 * The text of a read whose every row is a series of its own (distinctRows): each row's line is written as it
 * is read, nothing is kept per row.
 */
function* uniqueText(
  entries: MapEntries,
  plan: MetricPlan,
  cpus: number,
  baseText: string,
  labels: readonly LabelPlan[],
  out: ByteLines,
): Generator<void, void, undefined> {
  const name = plan.config.name;
  const braces = baseText !== "" || labels.length > 0;
  // The constant bytes between the variable parts of a line, each copied with one call:
  // `name{base,label0="`, then `",labelJ="` between labels, then `"} ` (or `} `, or ` `).
  const n = labels.length;
  const seps = labels.map((label, j) => Buffer.from(`${j === 0 ? `${name}{${baseText}` : '"'}${baseText === "" && j === 0 ? "" : ","}${label.name}="`));
  const head = n > 0 ? seps[0]! : Buffer.from(braces ? `${name}{${baseText}` : name);
  const tail = Buffer.from(n > 0 ? '"} ' : braces ? "} " : " ");
  const writers = labels.map(labelWriter);
  const { keys, values, keySize, valueStride, count } = entries;
  const value = valueReader(plan, cpus);
  const offsets = labels.map((l) => l.slice.offset);
  rows: for (let row = 0; row < count; row++) {
    if (row % STEP_ROWS === STEP_ROWS - 1) yield;
    const keyBase = row * keySize;
    out.bytes(head);
    for (let j = 0; j < n; j++) {
      if (j > 0) out.bytes(seps[j]!);
      if (!writers[j]!(out, keys, keyBase + offsets[j]!, row)) {
        out.dropLine();
        continue rows;
      }
    }
    out.bytes(tail);
    out.value(value(values, row * valueStride));
    out.endLine();
  }
}

/** A row's value (summed over CPUs for per-CPU maps), read by a reader made for the plan. */
function valueReader(plan: MetricPlan, cpus: number): IntegerReader {
  const { offset, size } = plan.value.slice;
  const read = integerReader(size, plan.value.signed);
  if (!plan.perCpu) return (b, at) => read(b, at + offset);
  const slot = perCpuSlotSize(plan.valueSize);
  return (b, at) => {
    let sum = 0;
    for (let cpu = 0; cpu < cpus; cpu++) sum += read(b, at + cpu * slot + offset);
    return sum;
  };
}

/** The read's sample lines as UTF-8 bytes, in pieces (an empty piece is a step boundary). */
export function* planBytes(entries: MapEntries, plan: MetricPlan, cpus: number, base: BaseLabels, cap: SeriesCap = {}): Generator<Uint8Array, void, undefined> {
  const baseText = labelPairs({ namespace: base.namespace, ebpfmap: base.ebpfmap });
  const name = plan.config.name;
  const out = new ByteLines();
  // At each step: the pieces finished since the last, or an empty one (the consumer may yield).
  const ready = (): readonly Uint8Array[] => {
    const done = out.take();
    return done.length === 0 ? STEPS : done;
  };
  const labels = plan.unlabelledZeroKey && entries.count === 1 && isZero(entries.keys, 0, entries.keySize) ? [] : plan.labels;
  let distinct = false;
  if (!plan.bucket) {
    const check = distinctRows(entries, plan);
    let step = check.next();
    for (; !step.done; step = check.next()) yield STEP;
    distinct = step.value;
  }
  // The direct path writes one summed line per row: not for per-CPU series, nor for a read with
  // more rows than its cap (walk sums those into the overflow series and counts them).
  if (distinct && !plan.cpuLabel && (cap.maxSeries === undefined || entries.count <= cap.maxSeries)) {
    for (const _ of uniqueText(entries, plan, cpus, baseText, labels, out)) yield* ready();
  } else {
    const line = (series: string, labelText: string, value: number): void => {
      out.text(labelText === "" ? `${series} ` : `${series}{${labelText}} `);
      out.value(value);
      out.endLine();
    };
    const visitor: SeriesVisitor = {
      value: (key, _texts, value) => line(name, joinLabels(baseText, key), value),
      histogram: (key, _texts, counts) => {
        const labelText = joinLabels(baseText, key);
        const series = histogramSeries(plan.layout!, counts);
        const le = labelText === "" ? 'le="' : `${labelText},le="`;
        for (const [bound, count] of series.buckets) line(`${name}_bucket`, `${le}${bound}"`, count);
        line(`${name}_sum`, labelText, series.sum);
        line(`${name}_count`, labelText, series.count);
      },
    };
    for (const _ of walk(entries, plan, cpus, visitor, false, cap, distinct)) yield* ready();
  }
  out.finish();
  yield* out.take();
}

/** The read's sample lines as text, in pieces (a piece may be empty: a step boundary). */
export function* planText(entries: MapEntries, plan: MetricPlan, cpus: number, base: BaseLabels, cap?: SeriesCap): Generator<string, void, undefined> {
  // Pieces hold whole lines, so no UTF-8 sequence is split between two of them.
  for (const piece of planBytes(entries, plan, cpus, base, cap)) {
    if (piece.length === 0) {
      yield "";
      continue;
    }
    const text = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength).toString("utf8");
    bodyChunks.give(piece); // decoded: its buffer may be filled again
    yield text;
  }
}

/** The read's samples as rows, in batches (a batch may be empty: a step boundary). */
export function* planRows(entries: MapEntries, plan: MetricPlan, cpus: number, base: BaseLabels, cap?: SeriesCap): Generator<Row[], void, undefined> {
  const name = plan.config.name;
  const namespace = base.namespace;
  const labelNames = plan.labels.map((l) => l.name);
  if (plan.cpuLabel) labelNames.push(CPU_LABEL);
  let batch: Row[] = [];
  const labelsOf = (texts: readonly string[] | undefined): Record<string, string> => {
    const labels: Record<string, string> = { namespace: base.namespace, ebpfmap: base.ebpfmap };
    if (!texts) return { ...labels, overflow: "true" }; // only the overflow series comes without texts
    for (let j = 0; j < texts.length; j++) labels[labelNames[j]!] = texts[j]!;
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
  for (const _ of walk(entries, plan, cpus, visitor, true, cap)) {
    yield batch;
    batch = [];
  }
  yield batch;
}

/** All rows of a read at once (tests, tools). */
export function planRowsAll(entries: MapEntries, plan: MetricPlan, cpus: number, base: BaseLabels, cap?: SeriesCap): Row[] {
  const out: Row[] = [];
  for (const batch of planRows(entries, plan, cpus, base, cap)) out.push(...batch);
  return out;
}

/** All text of a read at once (tests, tools). */
export function planTextAll(entries: MapEntries, plan: MetricPlan, cpus: number, base: BaseLabels, cap?: SeriesCap): string {
  let out = "";
  for (const piece of planText(entries, plan, cpus, base, cap)) out += piece;
  return out;
}
