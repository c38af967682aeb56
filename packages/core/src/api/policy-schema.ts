/**
 * `EbpfTenancyPolicy` (`observability.cloud/v1`, cluster-scoped): what the EbpfMaps of the
 * namespaces it selects may do, written by cluster admins. Same TypeBox machinery as the EbpfMap
 * (types, ajv, and the CRD's openAPIV3Schema from one schema). docs/tenancy.md explains each
 * field; `DEFAULT_POLICY` is what a namespace no policy selects gets.
 */
import { Type, type Static } from "@sinclair/typebox";

export const POLICY_KIND = "EbpfTenancyPolicy";
export const POLICY_PLURAL = "ebpftenancypolicies";

export const LabelSelectorRequirementSchema = Type.Object(
  {
    key: Type.String({ minLength: 1, maxLength: 317 }),
    operator: Type.Union([Type.Literal("In"), Type.Literal("NotIn"), Type.Literal("Exists"), Type.Literal("DoesNotExist")]),
    values: Type.Optional(Type.Array(Type.String({ maxLength: 63 }), { maxItems: 64 })),
  },
  {
    additionalProperties: false,
    "x-kubernetes-validations": [
      {
        rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
        message: "In and NotIn need values; Exists and DoesNotExist take none",
      },
    ],
  },
);

/** A Kubernetes label selector (`metav1.LabelSelector`): every term must hold; `{}` selects everything. */
const labelSelector = (description: string) =>
  Type.Object(
    {
      matchLabels: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 63 }))),
      matchExpressions: Type.Optional(Type.Array(LabelSelectorRequirementSchema, { maxItems: 32 })),
    },
    { additionalProperties: false, description },
  );
export const LabelSelectorSchema = labelSelector("A label selector.");

export const TargetScopeSchema = Type.Union([Type.Literal("pod"), Type.Literal("node")], {
  description: "pod: the namespace's own workloads (spec.selector, issue 12); node: node-wide targets (an interface, a host cgroup, a whole tracepoint).",
});
export const VerdictModeSchema = Type.Union([Type.Literal("observe"), Type.Literal("enforce")], {
  description: "observe: programs cannot change traffic or behaviour (their verdict is forced to pass); enforce: they can.",
  default: "observe",
});
export const HelperSetSchema = Type.Union([Type.Literal("observe"), Type.Literal("any")]);

const quota = (description: string, maximum: number) => Type.Optional(Type.Integer({ minimum: 0, maximum, description }));

export const QuotasSchema = Type.Object(
  {
    ebpfMaps: quota("Most EbpfMaps in a selected namespace (the oldest are admitted first).", 100_000),
    codeBytes: quota("Largest spec.code, in bytes.", 1_000_000),
    instructions: quota("Most BPF instructions per attached program, with its subprograms.", 1_000_000),
    mapEntries: quota("Largest max_entries of any one map.", 1 << 30),
    mapBytesPerEbpfMap: quota("Most map memory of one EbpfMap, in bytes (key + value x entries, per-CPU values x the node's CPUs).", 2 ** 40),
    mapBytesPerNamespacePerNode: quota("Most map memory of all of a namespace's EbpfMaps on one node, in bytes.", 2 ** 42),
    seriesPerEbpfMap: quota("Most series one EbpfMap serves from one node; the rest are summed into an overflow series.", 100_000_000),
    seriesPerNamespace: quota("Most series a namespace's EbpfMaps serve from one node together.", 100_000_000),
  },
  { additionalProperties: false, description: "Quotas; a quota left out takes the default policy's value." },
);

export const EbpfTenancyPolicySpecSchema = Type.Object(
  {
    namespaceSelector: labelSelector("The namespaces this policy governs, by their labels ({} selects every namespace)."),
    priority: Type.Optional(
      Type.Integer({
        minimum: -1000,
        maximum: 1000,
        default: 0,
        description: "Where several policies select a namespace, the highest priority governs (then the name, A-Z).",
      }),
    ),
    programTypes: Type.Optional(
      Type.Array(Type.String({ pattern: "^[a-z][a-z0-9_-]*$", maxLength: 63 }), {
        maxItems: 64,
        description: "EbpfMap program types allowed (spec.type). Default: every type.",
      }),
    ),
    targetScopes: Type.Optional(
      Type.Array(TargetScopeSchema, { maxItems: 2, uniqueItems: true, description: "Target scopes allowed. Default: [pod] (the namespace's own workloads)." }),
    ),
    nodeScopeProgramTypes: Type.Optional(
      Type.Array(Type.String({ pattern: "^[a-z][a-z0-9_-]*$", maxLength: 63 }), {
        maxItems: 64,
        description: "With the node scope: the program types that may use it. Default: every allowed type.",
      }),
    ),
    helpers: Type.Optional(
      Type.Object(
        {
          sets: Type.Optional(Type.Array(HelperSetSchema, { maxItems: 2, description: "Helper sets granted (default [observe]); any: every helper." })),
          names: Type.Optional(
            Type.Array(Type.String({ pattern: "^bpf_[a-z0-9_]+$", maxLength: 64 }), {
              maxItems: 256,
              description: "Helpers granted by name besides the sets, e.g. bpf_send_signal.",
            }),
          ),
          kfuncs: Type.Optional(
            Type.Array(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]*$", maxLength: 128 }), { maxItems: 256, description: "kfuncs granted by name." }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    verdictMode: Type.Optional(VerdictModeSchema),
    crossNamespacePodLabels: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          "Whether the namespace's EbpfMaps may use the decoders cgroup_namespace, cgroup_pod and cgroup_container, which name the pods (and containers) of every namespace on the node by a cgroup id (the API server's metadata about other tenants). Default false.",
      }),
    ),
    nodes: Type.Optional(
      Type.Object(
        {
          selector: Type.Optional(labelSelector("Only nodes with these labels run the namespace's programs.")),
          controlPlane: Type.Optional(
            Type.Boolean({
              default: false,
              description: "Whether control-plane nodes (node-role.kubernetes.io/control-plane or master) may run them. Default false.",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    quotas: Type.Optional(QuotasSchema),
  },
  { additionalProperties: false },
);

export type LabelSelector = Static<typeof LabelSelectorSchema>;
export type TargetScope = Static<typeof TargetScopeSchema>;
export type PolicyVerdictMode = Static<typeof VerdictModeSchema>;
export type Quotas = Static<typeof QuotasSchema>;
export type EbpfTenancyPolicySpec = Static<typeof EbpfTenancyPolicySpecSchema>;

/** Every quota, filled. */
export type FullQuotas = Required<Quotas>;

/** What a namespace no policy selects gets: nothing node-wide, observe only, modest quotas. */
export const DEFAULT_QUOTAS: FullQuotas = {
  ebpfMaps: 10,
  codeBytes: 64 * 1024,
  instructions: 100_000,
  mapEntries: 65_536,
  mapBytesPerEbpfMap: 16 * 1024 * 1024,
  mapBytesPerNamespacePerNode: 64 * 1024 * 1024,
  seriesPerEbpfMap: 5_000,
  seriesPerNamespace: 20_000,
};
