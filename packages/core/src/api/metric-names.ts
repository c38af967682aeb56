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

/** Labels the agent sets on every eBPF sample: users cannot define them. */
export const RESERVED_LABEL_NAMES: ReadonlySet<string> = new Set(["namespace", "ebpfmap"]);

/**
 * What Prometheus renames a sample's label to when a target label of the same name wins
 * (`honor_labels: false`). The install's scrape configs take `exported_namespace` back as
 * `namespace` (docs/tenancy.md), so a tenant's own `exported_namespace` would let its series
 * claim another namespace: the prefix is reserved, as a set of names it cannot be.
 */
export const EXPORTED_LABEL_PREFIX = "exported_";

/** Why a user-chosen label name is the agent's or Prometheus', or undefined. */
export function reservedLabelProblem(name: string): string | undefined {
  if (RESERVED_LABEL_NAMES.has(name)) return "is set by the agent on every sample";
  if (name.startsWith(EXPORTED_LABEL_PREFIX))
    return `starts with "${EXPORTED_LABEL_PREFIX}", which Prometheus gives to a sample's label that clashes with a target label`;
  return undefined;
}

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
