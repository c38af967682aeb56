/**
 * Prometheus naming rules. `spec.name` is user text (`syscall-counter`); what we serve must be a
 * valid metric name (`syscall_counter_total`), and every label name must be valid too.
 *
 * Tenants share one scrape target per node, and scrape configs take some of a sample's labels as
 * the truth (the install's takes `exported_namespace` back as `namespace`; others honour every
 * label, docs/tenancy.md), so names and labels are also a trust boundary: a tenant must not be
 * able to emit the target's own labels (`job`, `instance`, `node`, `pod`...) or metric names
 * other exporters own (`node_*`, `kube_*`, `up`...). Dashboards, alerts and autoscalers that do not
 * filter by namespace would read them as the real thing.
 */
/** The Prometheus types a served family can have. */
export type MetricKind = "counter" | "gauge" | "histogram";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isValidMetricName(name: string): boolean {
  return METRIC_NAME.test(name);
}

/**
 * Labels no resource may define: the ones the agent sets on every eBPF sample (`namespace`,
 * `ebpfmap`, `overflow` on a capped metric's overflow series), the ones a scrape target or
 * Kubernetes service discovery attaches (`job`, `instance`, `node`, `pod`, `container`,
 * `service`, `endpoint`), and `quantile` (summaries). `__*` is Prometheus' own (isValidLabelName),
 * and `exported_*` is what Prometheus renames clashing labels to.
 */
export const RESERVED_LABEL_NAMES: ReadonlySet<string> = new Set([
  "namespace",
  "ebpfmap",
  "overflow",
  "job",
  "instance",
  "node",
  "pod",
  "container",
  "service",
  "endpoint",
  "quantile",
]);
export const RESERVED_LABEL_PREFIXES: readonly string[] = ["__", "exported_"];

/** Why a label name is reserved (for messages), or undefined when a resource may use it. */
export function reservedLabelReason(name: string): string | undefined {
  if (RESERVED_LABEL_NAMES.has(name)) {
    return name === "namespace" || name === "ebpfmap" || name === "overflow"
      ? `"${name}" is set by the agent on every sample`
      : `"${name}" is a label of the scrape target (Prometheus and Kubernetes service discovery set it)`;
  }
  const prefix = RESERVED_LABEL_PREFIXES.find((p) => name.startsWith(p));
  if (prefix === "exported_") {
    // What Prometheus renames a sample's label to when a target label of the same name wins; the
    // install's scrape configs take exported_namespace back as namespace (docs/tenancy.md), so a
    // tenant's own would let its series claim another namespace.
    return `label names starting with "exported_" are reserved for Prometheus (it gives that name to a sample's label that clashes with a target label)`;
  }
  return prefix ? `label names starting with "${prefix}" are reserved for Prometheus` : undefined;
}

/**
 * The label a metric with `perCpu: true` adds: the CPU number of each per-CPU slot. Not reserved
 * for every metric (a key may well carry a CPU number of its own): a perCpu metric's own labels
 * may not use it (metrics-check, metric-plan), so the two never collide.
 */
export const CPU_LABEL = "cpu";

/**
 * Metric names owned by other exporters, the scrape itself and this project: a served name that
 * starts with one of these (compared in lower case) is refused.
 */
export const FOREIGN_METRIC_PREFIXES: readonly string[] = ["node_", "kube_", "kubelet_", "container_", "process_", "scrape_", "ebpf_operator_"];
/** Whole names refused: the scrape's own `up`. */
export const FOREIGN_METRIC_NAMES: ReadonlySet<string> = new Set(["up"]);

/**
 * Why a served metric name may not come from a resource, or undefined. Besides the foreign
 * names: colons, which Prometheus reserves for recording rules (`namespace:cpu:sum` would pass
 * for a rule's output).
 */
export function foreignMetricReason(served: string): string | undefined {
  const lower = served.toLowerCase();
  if (FOREIGN_METRIC_NAMES.has(lower)) return `"${served}" is the scrape's own metric`;
  const prefix = FOREIGN_METRIC_PREFIXES.find((p) => lower.startsWith(p));
  if (prefix) return `metric names starting with "${prefix}" belong to another exporter or to the agent itself`;
  if (served.includes(":")) return "colons in metric names are reserved for recording rules";
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
