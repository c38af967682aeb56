/**
 * The EbpfMap API (`observability.cloud/v1`, kind `EbpfMap`), written once as a JSON Schema in
 * TypeScript (TypeBox). The same schema gives the TS types (`Static<>`), the runtime validator
 * (ajv) and, later, the CRD's `openAPIV3Schema`, so the three can never drift apart.
 *
 * The seed's flat spec — `name, target, type, code, program, help, prometheusType, map` — stays
 * valid forever; richer fields are additive: `metrics` (see metrics-schema.ts) maps one or more
 * maps to metrics with labels, decoders and histograms, and makes the flat `name`/`map` optional.
 */
import { Type, type Static } from "@sinclair/typebox";
import { METRIC_NAME_VALIDATIONS, MetricSpecSchema } from "./metrics-schema.js";
import { PodSelectorSchema } from "./selector-schema.js";

export * from "./metrics-schema.js";
export * from "./selector-schema.js";

export const API_GROUP = "observability.cloud";
export const API_VERSION = "v1";
export const API_GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;
export const KIND = "EbpfMap";

/** A C identifier: the name of a program or a map in the user's code. */
const cIdentifier = (description: string) => Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]*$", maxLength: 128, description });

/** Kubernetes object names (DNS-1123 subdomain) and namespaces (DNS-1123 label). */
export const OBJECT_NAME_PATTERN = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";
export const NAMESPACE_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

export const PrometheusTypeSchema = Type.Union([Type.Literal("counter"), Type.Literal("gauge")], {
  description: "Prometheus metric type of the exported map values.",
  default: "counter",
});

/** `type` and `target` as the flat spec and `spec.programs[]` both write them. */
const PROGRAM_TYPE = Type.String({
  description:
    "Program type, handled by a plugin: kprobe, kretprobe, tracepoint, raw_tp, tp_btf, fentry, fexit, xdp, socket, cgroup, or a type a third-party plugin adds.",
  pattern: "^[a-z][a-z0-9_-]*$",
  maxLength: 63,
});
const PROGRAM_TARGET = Type.String({
  description:
    "Attach point in the syntax of the program type, e.g. sys_execve (kprobe), syscalls/sys_enter_execve (tracepoint), sched_switch (tp_btf). The SEC() name in the code does not override it.",
  minLength: 1,
  maxLength: 512,
});

/** Most programs one resource may attach (`spec.programs`). */
export const MAX_PROGRAMS = 16;

/** One entry of `spec.programs[]`: a C function of the object, how and where it attaches. */
export const ProgramEntrySchema = Type.Object(
  {
    program: cIdentifier("Name of the program (C function) to attach."),
    type: PROGRAM_TYPE,
    target: PROGRAM_TARGET,
  },
  { additionalProperties: false },
);

export const EbpfMapSpecSchema = Type.Object(
  {
    name: Type.Optional(
      Type.String({
        description:
          "Base name of the exported metric (flat spec). Characters Prometheus does not allow become '_'; counters get '_total' (syscall-counter -> syscall_counter_total).",
        pattern: "^[A-Za-z_:][A-Za-z0-9_:.-]*$",
        maxLength: 200,
        "x-kubernetes-validations": METRIC_NAME_VALIDATIONS,
      }),
    ),
    type: Type.Optional(PROGRAM_TYPE),
    target: Type.Optional(PROGRAM_TARGET),
    code: Type.String({
      description: "eBPF C source. Compiled with clang -target bpf -O2 -g; kernel-style u32/u64 are predefined.",
      minLength: 1,
      maxLength: 1_000_000,
    }),
    program: Type.Optional(cIdentifier("Name of the program (C function) to attach.")),
    programs: Type.Optional(
      Type.Array(ProgramEntrySchema, {
        minItems: 1,
        maxItems: MAX_PROGRAMS,
        description:
          "Several programs of the one object, each with its own type and target, instead of program/type/target: loaded together, attached all-or-nothing, sharing the object's maps.",
      }),
    ),
    map: Type.Optional(cIdentifier("Name of the BPF map whose entries become samples (flat spec).")),
    help: Type.Optional(Type.String({ description: "HELP text of the metric.", maxLength: 1024 })),
    prometheusType: Type.Optional(PrometheusTypeSchema),
    metrics: Type.Optional(
      Type.Array(MetricSpecSchema, {
        minItems: 1,
        maxItems: 32,
        description:
          "Metrics from the program's maps, with labels, decoders and histograms (docs/metrics.md). Served in addition to the flat metric when name and map are also set.",
      }),
    ),
    selector: Type.Optional(PodSelectorSchema),
    nodeSelector: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description: "Run only on nodes whose labels match (cluster mode). Default: every node.",
      }),
    ),
  },
  {
    additionalProperties: false,
    // Structural-schema friendly: the branches hold only `required`, no types or properties.
    // One program (program/type/target, the seed's flat spec) or several (programs); the mix is
    // refused by api/programs.ts with a message naming the fields.
    allOf: [
      { anyOf: [{ required: ["name", "map"] }, { required: ["metrics"] }] },
      { anyOf: [{ required: ["program", "type", "target"] }, { required: ["programs"] }] },
    ],
    // The same "not both" rule for the API server (kubectl apply fails at once with this message).
    "x-kubernetes-validations": [
      {
        rule: "!has(self.programs) || (!has(self.program) && !has(self.type) && !has(self.target))",
        message: "set program, type and target for one program, or programs for several, not both",
      },
    ],
  },
);

export const ObjectMetaSchema = Type.Object(
  {
    name: Type.String({ pattern: OBJECT_NAME_PATTERN, minLength: 1, maxLength: 253 }),
    namespace: Type.Optional(Type.String({ pattern: NAMESPACE_PATTERN, minLength: 1, maxLength: 63 })),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
    uid: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer()),
    resourceVersion: Type.Optional(Type.String()),
  },
  // The API server adds more (managedFields, creationTimestamp...): accept and ignore them.
  { additionalProperties: true },
);

export const EbpfMapSchema = Type.Object(
  {
    apiVersion: Type.Literal(API_GROUP_VERSION),
    kind: Type.Literal(KIND),
    metadata: ObjectMetaSchema,
    spec: EbpfMapSpecSchema,
    status: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);

export type EbpfMapSpec = Static<typeof EbpfMapSpecSchema>;
export type ProgramEntry = Static<typeof ProgramEntrySchema>;
export type ObjectMeta = Static<typeof ObjectMetaSchema>;
export type EbpfMap = Static<typeof EbpfMapSchema>;
export type PrometheusType = Static<typeof PrometheusTypeSchema>;
