/**
 * `spec.metrics[]`: the richer, additive mapping of maps to metrics — several metrics per
 * resource, labels cut from key fields (by BTF member name, or by size), decoder chains, and
 * histograms. Everything here is plain JSON Schema that is also a Kubernetes structural schema
 * (every field typed; decoder options are kept with `x-kubernetes-preserve-unknown-fields`).
 */
import { Type, type Static } from "@sinclair/typebox";
import { FOREIGN_METRIC_PREFIXES, RESERVED_LABEL_NAMES } from "./metric-names.js";

/** Prometheus metric and label names (api/metric-names.ts checks the rest: `__`, reserved). */
export const METRIC_NAME_PATTERN = "^[a-zA-Z_:][a-zA-Z0-9_:]*$";
export const LABEL_NAME_PATTERN = "^[a-zA-Z_][a-zA-Z0-9_]*$";

/**
 * The same rules as api/metric-names.ts, for the API server (CEL): `kubectl apply` fails at once.
 * The agent and the operator check them again (and `up` for gauges, which needs the type).
 */
const foreignPrefixRegex = `^(${FOREIGN_METRIC_PREFIXES.map((p) => p.slice(0, -1).replace(/_/g, "[-_.:]")).join("|")})[-_.:]`;
export const METRIC_NAME_VALIDATIONS = [
  {
    rule: `!self.lowerAscii().matches('${foreignPrefixRegex}')`,
    message: `names starting with ${FOREIGN_METRIC_PREFIXES.join(", ")} belong to other exporters or the agent`,
  },
  { rule: "!self.contains(':')", message: "colons in metric names are reserved for recording rules" },
];
// `pod` and `container` are checked on the whole label (LABEL_VALIDATIONS): a pod-scoped resource
// may name them when the agent's decoder of that name makes the value (api/metrics-check.ts also
// needs spec.selector).
export const LABEL_NAME_VALIDATIONS = [
  {
    rule: `!(self in [${[...RESERVED_LABEL_NAMES]
      .filter((n) => n !== "pod" && n !== "container")
      .map((n) => `'${n}'`)
      .join(", ")}]) && !self.startsWith('exported_')`,
    message: "reserved label name: set by the agent or by the scrape target (job, instance, node, pod, container, service, endpoint...)",
  },
];
export const LABEL_VALIDATIONS = [
  {
    rule: "self.name != 'pod' || (has(self.decoders) && size(self.decoders) > 0 && self.decoders[size(self.decoders) - 1].name == 'pod')",
    message: "the label pod is the agent's: only a pod-scoped resource (spec.selector) may name it, with the decoder pod last (e.g. uint, pod)",
  },
  {
    rule: "self.name != 'container' || (has(self.decoders) && size(self.decoders) > 0 && self.decoders[size(self.decoders) - 1].name == 'container')",
    message:
      "the label container is the agent's: only a pod-scoped resource (spec.selector) may name it, with the decoder container last (e.g. uint, container)",
  },
];

const cMember = (description: string) => Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]*$", maxLength: 128, description });

export const MetricTypeSchema = Type.Union([Type.Literal("counter"), Type.Literal("gauge"), Type.Literal("histogram")], {
  description: "Prometheus type of the metric.",
  default: "counter",
});

export const DecoderConfigSchema = Type.Object(
  {
    name: Type.String({
      pattern: "^[a-z][a-z0-9_]*$",
      maxLength: 63,
      description:
        "Decoder name: uint, int, string, hex, inet_ip, port, ksym, majorminor, ifname, syscall, errno, cgroup, static_map, regexp, pod, container, cgroup_namespace, cgroup_pod, cgroup_container, or one a plugin adds.",
    }),
    endianness: Type.Optional(
      Type.Union([Type.Literal("host"), Type.Literal("little"), Type.Literal("big")], { description: "uint, int: byte order (default host)." }),
    ),
    values: Type.Optional(Type.Record(Type.String(), Type.String(), { description: "static_map: input text -> label text." })),
    default: Type.Optional(Type.String({ maxLength: 1024, description: "static_map: label text for inputs not in values." })),
    pattern: Type.Optional(
      Type.String({ maxLength: 1024, description: "regexp: rows whose text does not match are dropped (RE2 syntax, matched in linear time)." }),
    ),
    arch: Type.Optional(Type.String({ maxLength: 16, description: "syscall: the architecture's numbers (x86_64, arm64); default the running kernel's." })),
  },
  // Plugin decoders may take other options: kept, and checked by the decoder.
  { "x-kubernetes-preserve-unknown-fields": true, description: "One step of a label's decoder chain: the name and its options." },
);

export const LabelSpecSchema = Type.Object(
  {
    name: Type.String({ pattern: LABEL_NAME_PATTERN, maxLength: 128, description: "Label name.", "x-kubernetes-validations": LABEL_NAME_VALIDATIONS }),
    field: Type.Optional(cMember("Member of the key struct (from the map's BTF) this label is cut from. Default: the member named like the label.")),
    size: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1024, description: "Cut the label from the next `size` key bytes instead of a BTF member (labels in order)." }),
    ),
    padding: Type.Optional(Type.Integer({ minimum: 0, maximum: 1024, description: "Bytes to skip after a sized label (alignment holes)." })),
    decoders: Type.Optional(
      Type.Array(DecoderConfigSchema, { maxItems: 8, description: "Decoder chain from the field's bytes to the label text. Default: by the BTF type." }),
    ),
  },
  { additionalProperties: false, "x-kubernetes-validations": LABEL_VALIDATIONS },
);

export const ValueSpecSchema = Type.Object(
  {
    field: Type.Optional(cMember("Member of the value struct holding the number (default: the whole value, an integer).")),
  },
  { additionalProperties: false },
);

export const BucketTypeSchema = Type.Union([Type.Literal("exp2"), Type.Literal("exp2zero"), Type.Literal("linear"), Type.Literal("fixed")]);

export const HistogramSpecSchema = Type.Object(
  {
    bucketType: BucketTypeSchema,
    bucketMin: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0, description: "Lowest bucket index (exp2, exp2zero, linear)." })),
    bucketMax: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 1_000_000, description: "Highest bucket index (exp2, exp2zero, linear); index bucketMax+1 holds the sum." }),
    ),
    bucketMultiplier: Type.Optional(Type.Number({ exclusiveMinimum: 0, default: 1, description: "Scales bucket bounds (1e-9: nanoseconds to seconds)." })),
    bucketKeys: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, maxItems: 512, description: "fixed: the key values, each its bucket's upper bound." }),
    ),
  },
  { additionalProperties: false },
);

export const MetricSpecSchema = Type.Object(
  {
    name: Type.String({
      pattern: METRIC_NAME_PATTERN,
      maxLength: 200,
      description: "Prometheus metric name; counters get '_total' appended when missing.",
      "x-kubernetes-validations": METRIC_NAME_VALIDATIONS,
    }),
    help: Type.Optional(Type.String({ maxLength: 1024 })),
    type: Type.Optional(MetricTypeSchema),
    map: cMember("The BPF map whose entries become this metric's samples."),
    labels: Type.Optional(
      Type.Array(LabelSpecSchema, {
        maxItems: 16,
        description: "Labels from the key. Default: one per member of a BTF key struct; for a histogram the last is the bucket index.",
      }),
    ),
    value: Type.Optional(ValueSpecSchema),
    histogram: Type.Optional(HistogramSpecSchema),
    perCpu: Type.Optional(
      Type.Boolean({
        default: false,
        description: "Per-CPU maps only: one series per CPU with a `cpu` label (the CPU number) instead of the CPUs' sum.",
      }),
    ),
  },
  { additionalProperties: false },
);

export type MetricType = Static<typeof MetricTypeSchema>;
export type DecoderConfigSpec = Static<typeof DecoderConfigSchema>;
export type LabelSpec = Static<typeof LabelSpecSchema>;
export type HistogramSpec = Static<typeof HistogramSpecSchema>;
export type BucketType = Static<typeof BucketTypeSchema>;
export type MetricSpec = Static<typeof MetricSpecSchema>;
