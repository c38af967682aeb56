/**
 * What a resource serves: the flat metric (`spec.name` + `spec.map`) and/or each of
 * `spec.metrics[]`. One program may feed several metrics, from one map or several.
 */
import { servedMetricName } from "../api/metrics-check.js";
import type { MetricSpec } from "../api/metrics-schema.js";
import type { EbpfMapSpec } from "../api/schema.js";
import { flatMetricConfig } from "./flat-metric.js";

export type MetricKind = "counter" | "gauge" | "histogram";

export interface MetricConfig {
  /** The served metric name (`syscall_counter_total`). */
  name: string;
  help: string;
  type: MetricKind;
  map: string;
  /** For `spec.metrics[index]`; absent for the flat metric. */
  rich?: { spec: MetricSpec; index: number };
}

export function metricConfigs(spec: EbpfMapSpec): MetricConfig[] {
  const configs: MetricConfig[] = [];
  if (spec.name !== undefined && spec.map !== undefined) configs.push(flatMetricConfig({ ...spec, name: spec.name, map: spec.map }));
  (spec.metrics ?? []).forEach((metric, index) => {
    configs.push({
      name: servedMetricName(metric),
      help: metric.help ?? `eBPF map ${metric.map} of ${spec.type} program ${spec.program}`,
      type: metric.type ?? "counter",
      map: metric.map,
      rich: { spec: metric, index },
    });
  });
  return configs;
}
