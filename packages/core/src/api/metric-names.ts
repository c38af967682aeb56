/**
 * Prometheus naming rules. `spec.name` is user text (`syscall-counter`); what we serve must be a
 * valid metric name (`syscall_counter_total`), and every label name must be valid too.
 */
/** The Prometheus types a served family can have. */
export type MetricKind = "counter" | "gauge" | "histogram";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isValidMetricName(name: string): boolean {
  return METRIC_NAME.test(name);
}

/** The label a metric with `perCpu: true` adds: the CPU number of each per-CPU slot. */
export const CPU_LABEL = "cpu";

/** Labels the agent sets on every eBPF sample: users cannot define them. */
export const RESERVED_LABEL_NAMES: ReadonlySet<string> = new Set(["namespace", "ebpfmap"]);

/** Valid label names; `__` is reserved for Prometheus' own use. */
export function isValidLabelName(name: string): boolean {
  return LABEL_NAME.test(name) && !name.startsWith("__");
}

/** Replaces every character Prometheus does not allow with `_`; a leading digit gets a `_`. */
export function sanitizeMetricName(name: string): string {
  const replaced = name.replace(/[^a-zA-Z0-9_:]/g, "_");
  return /^[0-9]/.test(replaced) ? `_${replaced}` : replaced;
}

/**
 * The one rule for served names, for the flat spec and `spec.metrics[]` alike: sanitized (a
 * name the schema accepted is unchanged), and counters end in `_total` (added once).
 */
export function metricNameFor(specName: string, type: MetricKind): string {
  const base = sanitizeMetricName(specName);
  if (type === "counter" && !base.endsWith("_total")) return `${base}_total`;
  return base;
}
