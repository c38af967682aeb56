/**
 * `spec.selector`: pod scope. A label selector over the pods of the EbpfMap's own namespace
 * (`metav1.LabelSelector`'s fields and meaning) and, optionally, one container of each. With a
 * selector the program runs only for those pods, on the nodes they run on; without one its
 * target is node-wide (docs/tenancy.md). Structural-schema friendly, like the rest of the spec.
 */
import { Type, type Static } from "@sinclair/typebox";
import type { FieldError } from "./field-error.js";

/** Label keys (`prefix/name`) and values, as Kubernetes allows them. */
const LABEL_KEY_PATTERN = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$";
const LABEL_VALUE_PATTERN = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";

export const LabelRequirementSchema = Type.Object(
  {
    key: Type.String({ pattern: LABEL_KEY_PATTERN, minLength: 1, maxLength: 317, description: "The label key." }),
    operator: Type.Union([Type.Literal("In"), Type.Literal("NotIn"), Type.Literal("Exists"), Type.Literal("DoesNotExist")], {
      description: "In and NotIn take values; Exists and DoesNotExist take none.",
    }),
    values: Type.Optional(Type.Array(Type.String({ pattern: LABEL_VALUE_PATTERN, maxLength: 63 }), { maxItems: 64 })),
  },
  { additionalProperties: false },
);

export const PodSelectorSchema = Type.Object(
  {
    matchLabels: Type.Optional(
      // Keys are checked by checkSelector: a Record with a key pattern becomes patternProperties,
      // which a CRD's structural schema cannot have.
      Type.Record(Type.String(), Type.String({ pattern: LABEL_VALUE_PATTERN, maxLength: 63 }), {
        description: "Pods whose labels have all of these.",
        maxProperties: 32,
      }),
    ),
    matchExpressions: Type.Optional(Type.Array(LabelRequirementSchema, { maxItems: 16, description: "Requirements that must all hold." })),
    container: Type.Optional(
      Type.String({
        pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        maxLength: 63,
        description:
          "Only this container of each selected pod (its name in the pod's spec): cgroup programs attach to the container's cgroup, tracepoint/kprobe/kretprobe run only for its tasks; a pod whose status names no running container of that name is reported and attached once it runs (a restart is followed). Refused for xdp and socket (a pod's containers share its network). A metric label named container with the decoders uint, container names the container of a cgroup id.",
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      "Pod scope: run the program only for the pods of this namespace that match (on the nodes they run on), each pod's series labelled with pod (and container). {} selects every pod of the namespace. Without a selector the target is node-wide. cgroup programs attach to each selected pod's cgroup (the target's path is then the pod's: write <hook>:/), and a metric label named pod with the decoders uint, pod names the pod of a cgroup id; tracepoint, kprobe and kretprobe programs attach at their target as written behind the agent's gate, which runs them only for tasks in the selected pods' cgroups; xdp and socket programs attach inside each selected pod's network namespace to its own interfaces (target xdp/* or sockfilter/*) behind a gate per pod that hands the program the pod's cgroup id (eop_pod_cgroup_id(ctx) from ebpf-operator/pod.h: key the map by it for the pod label; hostNetwork pods are left out and reported); a label named container with the decoders uint, container names the pod's container of a cgroup id; other program types (raw_tp, tp_btf, fentry) are refused (EOP_ERR_POD_SCOPE_UNSUPPORTED), never run node-wide.",
  },
);

export type PodSelectorSpec = Static<typeof PodSelectorSchema>;

/** `prefix/name`: the name at most 63 characters, the prefix (a DNS subdomain) at most 253. */
function isLabelKey(key: string, pattern: RegExp): boolean {
  const slash = key.indexOf("/");
  const name = slash < 0 ? key : key.slice(slash + 1);
  return pattern.test(key) && name.length <= 63 && slash <= 253;
}

/** What JSON Schema cannot say about a selector: In/NotIn need values, Exists/DoesNotExist take none. */
export function checkSelector(selector: PodSelectorSpec | undefined): FieldError[] {
  const errors: FieldError[] = [];
  const keyPattern = new RegExp(LABEL_KEY_PATTERN);
  for (const key of Object.keys(selector?.matchLabels ?? {})) {
    if (!isLabelKey(key, keyPattern))
      errors.push({
        field: "spec.selector.matchLabels",
        message: `${JSON.stringify(key)} is not a label key ([prefix/]name: name up to 63 characters, prefix a DNS subdomain)`,
      });
  }
  (selector?.matchExpressions ?? []).forEach((requirement, i) => {
    if (!isLabelKey(requirement.key, keyPattern))
      errors.push({ field: `spec.selector.matchExpressions[${i}].key`, message: `${JSON.stringify(requirement.key)} is not a label key` });
  });
  (selector?.matchExpressions ?? []).forEach((requirement, i) => {
    const field = `spec.selector.matchExpressions[${i}].values`;
    const hasValues = (requirement.values?.length ?? 0) > 0;
    if ((requirement.operator === "In" || requirement.operator === "NotIn") && !hasValues)
      errors.push({ field, message: `operator ${requirement.operator} needs values` });
    if ((requirement.operator === "Exists" || requirement.operator === "DoesNotExist") && hasValues) {
      errors.push({ field, message: `operator ${requirement.operator} takes no values` });
    }
  });
  return errors;
}
