/**
 * Histogram series at scrape time: bucket counts (summed over rows and CPUs) become cumulative
 * `le` buckets, `_sum` and `_count`, by the layout planned at load time (plan/histogram.ts, which
 * documents the bucket types).
 */
import type { BucketLayout } from "../plan/histogram.js";

/** One label set's observations: count per bucket key index (already summed over CPUs). */
export interface BucketCounts {
  counts: Map<number, number>;
}

export interface HistogramSeries {
  /** `[le, cumulative count]`, ascending, ending with `+Inf`. */
  buckets: [string, number][];
  sum: number;
  count: number;
}

/** Position of the bucket an index counts in: -1 for "+Inf only" (overflow). */
export function bucketPosition(layout: BucketLayout, index: number): number {
  const { indexes } = layout;
  if (indexes.length === 0) return -1;
  // Contiguous layouts (exp2, exp2zero, linear) index directly; fixed ones search.
  if (layout.sumIndex !== undefined) {
    const first = indexes[0]!;
    if (index < first) return 0;
    const position = index - first;
    return position < indexes.length ? position : -1;
  }
  let lo = 0;
  let hi = indexes.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (indexes[mid]! >= index) {
      found = mid;
      hi = mid - 1;
    } else {
      lo = mid + 1;
    }
  }
  return found;
}

/**
 * Turns bucket counts into Prometheus series: every bucket present (missing ones count 0),
 * cumulative, `le` ascending, `+Inf` equal to `_count`.
 */
export function histogramSeries(layout: BucketLayout, counts: ReadonlyMap<number, number>): HistogramSeries {
  const perBucket = new Array<number>(layout.indexes.length).fill(0);
  let overflow = 0;
  let exactSum: number | undefined;
  for (const [index, value] of counts) {
    if (index === layout.sumIndex) {
      exactSum = value * layout.sumScale;
      continue;
    }
    const position = bucketPosition(layout, index);
    if (position === -1) overflow += value;
    else perBucket[position]! += value;
  }
  const buckets: [string, number][] = [];
  let cumulative = 0;
  let estimate = 0;
  for (let i = 0; i < perBucket.length; i++) {
    cumulative += perBucket[i]!;
    estimate += perBucket[i]! * layout.bounds[i]!;
    buckets.push([formatLe(layout.bounds[i]!), cumulative]);
  }
  const count = cumulative + overflow;
  // Overflowed observations are at least the highest bound: the estimate stays a lower bound for them.
  estimate += overflow * (layout.bounds[layout.bounds.length - 1] ?? 0);
  buckets.push(["+Inf", count]);
  return { buckets, sum: exactSum ?? estimate, count };
}

/**
 * `le` label text as Prometheus' Go clients write it (strconv.FormatFloat(v, 'g', -1, 64)): the
 * shortest round-trip digits, in exponent form when the exponent is below -4 or at least 6, with
 * a signed two-digit-minimum exponent (`1e-06`, `1.048576e+06`), else plain (`0.0001`, `100000`).
 * Prometheus before 3.0 compares `le` as text, so a query or dashboard written against a Go
 * exporter matches ours only if the text is the same.
 */
export function formatLe(bound: number): string {
  if (Number.isNaN(bound)) return "NaN";
  if (!Number.isFinite(bound)) return bound > 0 ? "+Inf" : "-Inf";
  if (bound === 0) return "0";
  // toExponential() without digits gives the shortest round-trip mantissa, as Go's -1 precision.
  const [mantissa, exponentText] = bound.toExponential().split("e") as [string, string];
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 6) return `${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  return String(bound);
}
