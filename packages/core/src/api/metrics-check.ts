/**
 * Checks of `spec.metrics` that JSON Schema cannot express: Prometheus naming rules beyond the
 * pattern, reserved and duplicate names, how labels address the key, and histogram settings.
 * Checks that need the map's types (BTF) happen when the program is loaded (plan/metric-plan.ts).
 */
import { CPU_LABEL, foreignMetricReason, isValidLabelName, isValidMetricName, metricNameFor, reservedLabelReason } from "./metric-names.js";
import type { MetricSpec } from "./metrics-schema.js";
import type { EbpfMapSpec } from "./schema.js";
import type { FieldError } from "./field-error.js";

/** Most buckets one histogram may declare (bucketMax - bucketMin + 1). */
export const MAX_HISTOGRAM_BUCKETS = 4096;

export function checkMetricsSpec(spec: EbpfMapSpec): FieldError[] {
  const errors: FieldError[] = [];
  if ((spec.name === undefined) !== (spec.map === undefined)) {
    errors.push({
      field: spec.name === undefined ? "spec.name" : "spec.map",
      message: "the flat spec needs both name and map (or leave both out and use metrics)",
    });
  }
  const served = new Map<string, string>();
  if (spec.name !== undefined && spec.map !== undefined) {
    const name = metricNameFor(spec.name, spec.prometheusType ?? "counter");
    const foreign = foreignMetricReason(name);
    if (foreign) errors.push({ field: "spec.name", message: `serves "${name}": ${foreign}; choose another name` });
    served.set(name, "spec.name");
  }
  (spec.metrics ?? []).forEach((metric, i) => {
    const at = `spec.metrics[${i}]`;
    const name = metricNameFor(metric.name, metric.type ?? "counter");
    if (!isValidMetricName(name) || name.startsWith("__")) errors.push({ field: `${at}.name`, message: `"${name}" is not a valid Prometheus metric name` });
    const foreign = foreignMetricReason(name);
    if (foreign) errors.push({ field: `${at}.name`, message: `serves "${name}": ${foreign}; choose another name` });
    const other = served.get(name);
    if (other) errors.push({ field: `${at}.name`, message: `metric "${name}" is also defined by ${other}` });
    served.set(name, `${at}.name`);
    errors.push(...checkMetric(metric, at, spec.selector !== undefined));
  });
  return errors;
}

/**
 * Pod identity labels: a pod-scoped resource (spec.selector) may name a label `pod` (`container`)
 * when the agent's `pod` (`container`) decoder makes its value (the last decoder of the chain, so
 * nothing after it can rewrite the name); those decoders serve nothing else. Anything else named
 * `pod` or `container` is the scrape target's label, reserved.
 */
export function podLabelProblem(label: NonNullable<MetricSpec["labels"]>[number], podScoped: boolean): { field: string; message: string } | undefined {
  const decoders = label.decoders ?? [];
  const last = decoders.length - 1;
  for (const identity of IDENTITY_LABELS) {
    const misplaced = decoders.findIndex((d, i) => d.name === identity && !(i === last && label.name === identity));
    if (misplaced !== -1)
      return { field: `decoders[${misplaced}]`, message: `the decoder "${identity}" may only be the last decoder of a label named ${identity}` };
  }
  if (!IDENTITY_LABELS.includes(label.name)) return undefined;
  if (!podScoped)
    return {
      field: "name",
      message: `"${label.name}" is a label of the scrape target; only a pod-scoped resource (spec.selector) may set it, with the decoder ${label.name}`,
    };
  if (decoders[last]?.name !== label.name)
    return {
      field: "decoders",
      message: `a pod-scoped resource's label "${label.name}" takes its value from the agent: end its decoders with ${label.name} (e.g. uint, ${label.name} over a cgroup id)`,
    };
  return undefined;
}

/** The labels whose values only the agent's decoders of the same name make (pod-scoped resources only). */
export const IDENTITY_LABELS: readonly string[] = ["pod", "container"];

/**
 * The decoders that name pods of every namespace on the node (decoders/cgroup-pod.ts): the API
 * server's metadata about other tenants, which only a tenancy policy with
 * `crossNamespacePodLabels: true` grants.
 */
export const CROSS_NAMESPACE_DECODERS: readonly string[] = ["cgroup_namespace", "cgroup_pod", "cgroup_container"];

/**
 * The decoders that name any cgroup of the node (decoders/cgroup.ts: the path, which holds other
 * pods' UIDs and container ids): a view of the node, which only a policy allowing node-wide
 * targets grants. A program writes whatever cgroup id it likes into its keys, so the decoder, not
 * the program's scope, is what reveals them.
 */
export const NODE_VIEW_DECODERS: readonly string[] = ["cgroup"];

/** Where a spec uses one of `names` as a decoder: `spec.metrics[0].labels[1].decoders[1]` and the decoder's name. */
function decoderUses(spec: Pick<EbpfMapSpec, "metrics">, names: readonly string[]): { field: string; decoder: string }[] {
  const uses: { field: string; decoder: string }[] = [];
  (spec.metrics ?? []).forEach((metric, i) =>
    (metric.labels ?? []).forEach((label, j) =>
      (label.decoders ?? []).forEach((decoder, k) => {
        if (names.includes(decoder.name)) uses.push({ field: `spec.metrics[${i}].labels[${j}].decoders[${k}]`, decoder: decoder.name });
      }),
    ),
  );
  return uses;
}

/** Where a spec uses a cross-namespace decoder: `spec.metrics[0].labels[1].decoders[1]` and the decoder's name. */
export function crossNamespaceDecoderUses(spec: Pick<EbpfMapSpec, "metrics">): { field: string; decoder: string }[] {
  return decoderUses(spec, CROSS_NAMESPACE_DECODERS);
}

/** Where a spec uses a decoder that names any cgroup of the node (NODE_VIEW_DECODERS). */
export function nodeViewDecoderUses(spec: Pick<EbpfMapSpec, "metrics">): { field: string; decoder: string }[] {
  return decoderUses(spec, NODE_VIEW_DECODERS);
}

function checkMetric(metric: MetricSpec, at: string, podScoped = false): FieldError[] {
  const errors: FieldError[] = [];
  const type = metric.type ?? "counter";
  const labels = metric.labels ?? [];
  const seen = new Set<string>();
  labels.forEach((label, j) => {
    const field = `${at}.labels[${j}]`;
    if (!isValidLabelName(label.name))
      errors.push({ field: `${field}.name`, message: `"${label.name}" is not a valid Prometheus label name (names starting with __ are reserved)` });
    const podProblem = podLabelProblem(label, podScoped);
    if (podProblem) errors.push({ field: `${field}.${podProblem.field}`, message: podProblem.message });
    const reserved = IDENTITY_LABELS.includes(label.name) ? undefined : reservedLabelReason(label.name);
    if (reserved) errors.push({ field: `${field}.name`, message: `${reserved}; choose another name` });
    // The last label of a histogram is the bucket index: it becomes `le`, never a label itself.
    const isBucket = type === "histogram" && j === labels.length - 1;
    if (type === "histogram" && !isBucket && label.name === "le") {
      errors.push({ field: `${field}.name`, message: `"${label.name}" is reserved for histogram buckets` });
    }
    if (isBucket && label.decoders?.length)
      errors.push({ field: `${field}.decoders`, message: "the last label of a histogram is the bucket index (it becomes le): it takes no decoders" });
    if (seen.has(label.name)) errors.push({ field: `${field}.name`, message: `label "${label.name}" is defined twice` });
    seen.add(label.name);
    if (label.field !== undefined && label.size !== undefined) errors.push({ field, message: "set either field (a BTF member) or size (key bytes), not both" });
    if (label.padding !== undefined && label.size === undefined)
      errors.push({ field: `${field}.padding`, message: "padding applies only to labels cut by size" });
  });
  if (metric.perCpu) {
    const j = labels.findIndex((l, i) => l.name === CPU_LABEL && !(type === "histogram" && i === labels.length - 1));
    if (j !== -1) errors.push({ field: `${at}.labels[${j}].name`, message: `"${CPU_LABEL}" is the label perCpu adds; choose another name` });
  }
  const sized = labels.filter((l) => l.size !== undefined).length;
  if (sized > 0 && sized < labels.length)
    errors.push({ field: `${at}.labels`, message: "cut every label by size, or none: sized labels are laid out in order from the start of the key" });

  const histogram = metric.histogram;
  if (type === "histogram" && !histogram) errors.push({ field: `${at}.histogram`, message: "required for type histogram (bucketType, bucketMin, bucketMax)" });
  if (type !== "histogram" && histogram) errors.push({ field: `${at}.histogram`, message: `applies only to type histogram, not ${type}` });
  if (type === "histogram" && metric.name.match(/_(total|bucket|count|sum)$/)) {
    errors.push({ field: `${at}.name`, message: "a histogram's name must not end in _total, _bucket, _count or _sum (the series get those suffixes)" });
  }
  if (histogram) {
    const h = `${at}.histogram`;
    if (histogram.bucketType === "fixed") {
      const keys = histogram.bucketKeys ?? [];
      if (keys.length === 0) errors.push({ field: `${h}.bucketKeys`, message: "required for bucketType fixed" });
      if (new Set(keys).size !== keys.length) errors.push({ field: `${h}.bucketKeys`, message: "must not repeat a key" });
    } else {
      const min = histogram.bucketMin ?? 0;
      if (histogram.bucketMax === undefined) errors.push({ field: `${h}.bucketMax`, message: `required for bucketType ${histogram.bucketType}` });
      else if (histogram.bucketMax < min) errors.push({ field: `${h}.bucketMax`, message: `must be at least bucketMin (${min})` });
      else if (histogram.bucketMax - min + 1 > MAX_HISTOGRAM_BUCKETS)
        errors.push({ field: `${h}.bucketMax`, message: `at most ${MAX_HISTOGRAM_BUCKETS} buckets per histogram` });
      if (histogram.bucketKeys) errors.push({ field: `${h}.bucketKeys`, message: "applies only to bucketType fixed" });
    }
  }
  return errors;
}
