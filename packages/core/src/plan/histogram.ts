/**
 * Histogram bucket layouts, built when a metric is planned (scrape/histogram-series.ts turns
 * counts into series at scrape time) and documented in docs/metrics.md. The map's
 * key ends with a bucket index; its value counts the observations in that bucket:
 *
 *   exp2      bucket i holds values <= 2^i * multiplier (the kernel helper rounds up to the next
 *             power of two: EOP_HIST_LOG2_INC in bpf/include/ebpf-operator/histogram.h)
 *   exp2zero  bucket 0 holds zeros; bucket i >= 1 holds values <= 2^(i-1) * multiplier
 *   linear    bucket i holds values <= i * multiplier (EOP_HIST_LINEAR_INC: ceil(value / step))
 *   fixed     the key is the bucket's upper bound itself (times multiplier), one of bucketKeys
 *
 * For exp2, exp2zero and linear, index bucketMax+1 holds the sum of the observed values (the
 * kernel helpers add it there), so `_sum` is exact; without that key `_sum` is estimated from
 * the buckets' upper bounds. exp2 multipliers convert units (1e-9: nanoseconds to seconds), so
 * the sum key is scaled like the bounds; a linear multiplier is the bucket width in the value's
 * own unit (the helper's step), so the sum is served as counted. An index below bucketMin counts in bucketMin's bucket (its values
 * are below that bound too); an index above bucketMax+1 (the helpers' overflow) counts only in
 * `+Inf` and `_count`.
 */
import type { HistogramSpec } from "../api/metrics-schema.js";

export interface BucketLayout {
  /** Bucket key indexes, ascending by upper bound. */
  readonly indexes: readonly number[];
  /** Upper bound of each bucket, in the same order. */
  readonly bounds: readonly number[];
  /** The key index that holds the sum of observed values, if the bucket type has one. */
  readonly sumIndex: number | undefined;
  /** Converts the sum key's value to the bounds' unit. */
  readonly sumScale: number;
}

/** The upper bound of bucket `index` for exp2, exp2zero and linear histograms. */
export function upperBound(type: "exp2" | "exp2zero" | "linear", index: number, multiplier: number): number {
  switch (type) {
    case "exp2":
      return 2 ** index * multiplier;
    case "exp2zero":
      return index === 0 ? 0 : 2 ** (index - 1) * multiplier;
    case "linear":
      return index * multiplier;
  }
}

export function bucketLayout(spec: HistogramSpec): BucketLayout {
  const multiplier = spec.bucketMultiplier ?? 1;
  if (spec.bucketType === "fixed") {
    const keys = [...(spec.bucketKeys ?? [])].sort((a, b) => a - b);
    return { indexes: keys, bounds: keys.map((k) => k * multiplier), sumIndex: undefined, sumScale: multiplier };
  }
  const min = spec.bucketMin ?? 0;
  const max = spec.bucketMax ?? min;
  const indexes: number[] = [];
  for (let i = min; i <= max; i++) indexes.push(i);
  const type = spec.bucketType;
  return { indexes, bounds: indexes.map((i) => upperBound(type, i, multiplier)), sumIndex: max + 1, sumScale: type === "linear" ? 1 : multiplier };
}
