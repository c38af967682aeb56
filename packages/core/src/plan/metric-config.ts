/**
 * What a resource serves: the flat metric (`spec.name` + `spec.map`) and/or each of
 * `spec.metrics[]`. The flat spec is turned into a `spec.metrics[]`-shaped entry here, so the
 * rest of the pipeline (plan, scrape) knows one kind of metric; `flat` keeps its two historic
 * differences (the key is a `key` label cut by size, not BTF members; a value is read unsigned).
 */
import { metricNameFor, type MetricKind } from "../api/metric-names.js";
import type { MetricSpec } from "../api/metrics-schema.js";
import { describePrograms } from "../api/programs.js";
import type { EbpfMapSpec } from "../api/schema.js";

export type { MetricKind };

export interface MetricConfig {
  /** The served metric name (`syscall_counter_total`). */
  name: string;
  help: string;
  type: MetricKind;
  map: string;
  /** Where the metric is declared, for messages: `spec` (flat) or `spec.metrics[2]`. */
  field: string;
  /** The metric's spec; for the flat metric, the equivalent `spec.metrics[]` entry. */
  spec: MetricSpec;
  /** The flat spec's metric: BTF is not consulted, the key is one `key` label. */
  flat: boolean;
}

export function metricConfigs(spec: EbpfMapSpec): MetricConfig[] {
  const configs: MetricConfig[] = [];
  const defaultHelp = (map: string) => `eBPF map ${map} of ${describePrograms(spec)}`;
  if (spec.name !== undefined && spec.map !== undefined) {
    const type = spec.prometheusType ?? "counter";
    configs.push({
      name: metricNameFor(spec.name, type),
      help: spec.help ?? defaultHelp(spec.map),
      type,
      map: spec.map,
      field: "spec",
      spec: { name: spec.name, map: spec.map, type, help: spec.help },
      flat: true,
    });
  }
  (spec.metrics ?? []).forEach((metric, index) => {
    const type = metric.type ?? "counter";
    configs.push({
      name: metricNameFor(metric.name, type),
      help: metric.help ?? defaultHelp(metric.map),
      type,
      map: metric.map,
      field: `spec.metrics[${index}]`,
      spec: metric,
      flat: false,
    });
  });
  return configs;
}
