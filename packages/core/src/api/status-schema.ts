/**
 * Status shapes of the Kubernetes API (cluster mode), in the same TypeBox style as the spec:
 * `EbpfMap.status` (written only by the operator) and the per-node `EbpfMapNodeStatus` objects
 * (one per resource per node, written only by that node's agent, owner-referenced to the
 * EbpfMap). No two writers share an object.
 */
import { Type, type Static } from "@sinclair/typebox";

export const NODE_STATUS_KIND = "EbpfMapNodeStatus";

export const ConditionSchema = Type.Object({
  type: Type.String({ maxLength: 316 }),
  status: Type.Union([Type.Literal("True"), Type.Literal("False"), Type.Literal("Unknown")]),
  reason: Type.String({ maxLength: 1024 }),
  message: Type.String({ maxLength: 32768 }),
  lastTransitionTime: Type.String({ format: "date-time" }),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
});

export const NodeFailureSchema = Type.Object({
  node: Type.String(),
  phase: Type.String(),
  code: Type.Optional(Type.String()),
  message: Type.String({ maxLength: 4096 }),
});

export const EbpfMapStatusSchema = Type.Object({
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  conditions: Type.Optional(Type.Array(ConditionSchema, { maxItems: 16 })),
  object: Type.Optional(
    Type.Object({
      hash: Type.String({ description: "Key of the compiled object: a hash of the source and the compiler's inputs." }),
      sha256: Type.String({ description: "SHA-256 of the object's bytes; agents verify what they fetch against it." }),
      configMap: Type.String({ description: "ConfigMap holding the object, in the operator's namespace." }),
      namespace: Type.String(),
      generation: Type.Integer({ description: "The EbpfMap generation the object was compiled from." }),
    }),
  ),
  policy: Type.Optional(
    Type.Object(
      {
        kind: Type.Union([Type.Literal("EbpfTenancyPolicy"), Type.Literal("NamespaceLabel"), Type.Literal("Default")], {
          description: "What governs the namespace: a policy, the kernel-wide namespace label (shorthand), or the default policy.",
        }),
        name: Type.String({ description: "The policy's name (the label, or default)." }),
        admitted: Type.Boolean(),
        rule: Type.Optional(Type.String({ description: "The policy rule that refused it." })),
        message: Type.String({ maxLength: 4096 }),
      },
      { description: "Which tenancy policy admitted or refused this EbpfMap, and why." },
    ),
  ),
  selectedNodes: Type.Optional(Type.Integer({ minimum: 0 })),
  readyNodes: Type.Optional(Type.Integer({ minimum: 0 })),
  failedNodes: Type.Optional(Type.Integer({ minimum: 0 })),
  ready: Type.Optional(Type.String({ description: "ready/selected nodes, e.g. 1/1" })),
  failures: Type.Optional(Type.Array(NodeFailureSchema, { maxItems: 5, description: "The first node failures." })),
});

export const NodeStatusSpecSchema = Type.Object({
  ebpfMap: Type.String({ description: "Name of the EbpfMap (same namespace)." }),
  nodeName: Type.String(),
});

export const NodeStatusStatusSchema = Type.Object({
  phase: Type.String(),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  objectHash: Type.Optional(Type.String()),
  conditions: Type.Optional(Type.Array(ConditionSchema, { maxItems: 16 })),
  lastError: Type.Optional(Type.Object({ code: Type.Optional(Type.String()), message: Type.String({ maxLength: 32768 }), time: Type.String() })),
  program: Type.Optional(
    Type.Object({
      id: Type.Integer(),
      loadKey: Type.String(),
      adopted: Type.Boolean(),
      attachments: Type.Array(Type.String()),
    }),
  ),
  programs: Type.Optional(
    Type.Array(
      Type.Object({
        name: Type.String({ description: "The C function." }),
        type: Type.String(),
        target: Type.String(),
        id: Type.Integer(),
        attachments: Type.Array(Type.String()),
      }),
      { maxItems: 16, description: "Every program of the resource, in spec order." },
    ),
  ),
  metrics: Type.Optional(Type.Array(Type.String())),
});

export type KubeCondition = Static<typeof ConditionSchema>;
export type EbpfMapStatus = Static<typeof EbpfMapStatusSchema>;
export type NodeStatusSpec = Static<typeof NodeStatusSpecSchema>;
export type NodeStatusStatus = Static<typeof NodeStatusStatusSchema>;
