/**
 * The registry's current samples as remote-write series: the very values `/metrics` renders
 * (prom-client's JSON form of the same Registry), stamped with one gather time.
 */
import type { MetricObjectWithValues, MetricValue, Registry } from "prom-client";
import type { TimeSeries } from "./write-request.js";

/**
 * Turns `registry.getMetricsAsJSON()` output into series. Histogram values carry their
 * `_bucket`/`_sum`/`_count` name in `metricName`. `extraLabels` (job, instance) are added where
 * the sample has no label of that name: a sample's own labels win, as with `honor_labels`.
 */
export function toTimeSeries(metrics: readonly MetricObjectWithValues<MetricValue<string>>[], timestampMs: number, extraLabels: Readonly<Record<string, string>> = {}): TimeSeries[] {
  const out: TimeSeries[] = [];
  for (const metric of metrics) {
    for (const value of metric.values) {
      const name = (value as { metricName?: string }).metricName ?? metric.name;
      const labels: Record<string, string> = { ...extraLabels };
      for (const [key, labelValue] of Object.entries(value.labels)) {
        if (labelValue !== undefined) labels[key] = String(labelValue);
      }
      labels.__name__ = name;
      out.push({ labels, samples: [{ value: value.value, timestampMs }] });
    }
  }
  return out;
}

/** Gathers the registry (after `refresh`, which reads the maps) into series. */
export async function gatherSeries(registry: Registry, refresh: () => Promise<void>, extraLabels: Readonly<Record<string, string>>): Promise<TimeSeries[]> {
  await refresh();
  const timestampMs = Date.now();
  return toTimeSeries(await registry.getMetricsAsJSON(), timestampMs, extraLabels);
}
