/**
 * The tenancy policy as the operator and every agent evaluate it (one function, two places: the
 * operator decides the status, the agent decides again before it loads, trusting no status).
 *
 * Which policy governs a namespace: the `EbpfTenancyPolicy` objects whose namespaceSelector
 * matches its labels, the highest `priority` first, then the name (A-Z); if none does, the
 * namespace label `observability.cloud/allow-kernel-wide-programs=true` (a documented shorthand
 * kept from before the policy existed: node-wide targets for the kernel-wide program types,
 * everything else as the default); if not that either, the default policy: program types of any
 * kind but only the pod scope (nothing node-wide), the observe helper set, observe mode, no
 * control-plane nodes, modest quotas (DEFAULT_QUOTAS). docs/tenancy.md has the details.
 */
import type { KubernetesObject, V1Node } from "@kubernetes/client-node";
import {
  DEFAULT_QUOTAS,
  enforcementForPolicy,
  type EbpfMapSpec,
  type EnforcementGrant,
  type LoadEnforcement,
  type EbpfTenancyPolicySpec,
  type FullQuotas,
  type LabelSelector,
  type PolicyVerdictMode,
  type TargetScope,
  type Violation,
  crossNamespaceDecoderUses,
  nodeViewDecoderUses,
  formatViolations,
  programsOf,
} from "@ebpf-operator/core";
import { ALLOW_KERNEL_WIDE_LABEL } from "./types.js";

export interface PolicyObject extends KubernetesObject {
  metadata: { name: string; resourceVersion?: string; generation?: number };
  spec: EbpfTenancyPolicySpec;
}

export type PolicySource = "EbpfTenancyPolicy" | "NamespaceLabel" | "Default";

/** The policy governing one namespace, every field filled. */
export interface EffectivePolicy {
  source: PolicySource;
  /** The policy's name; for the label, the label; `default` for the default. */
  name: string;
  /** For messages: `EbpfTenancyPolicy "team-a"`. */
  describe: string;
  programTypes?: readonly string[];
  targetScopes: readonly TargetScope[];
  nodeScopeProgramTypes?: readonly string[];
  helpers: { sets: readonly ("observe" | "any")[]; names: readonly string[] };
  kfuncs: readonly string[];
  verdictMode: PolicyVerdictMode;
  /** Whether the pod labels of other namespaces (cgroup_namespace, cgroup_pod, cgroup_container) may be used. */
  crossNamespacePodLabels: boolean;
  nodes: { selector?: LabelSelector; controlPlane: boolean };
  quotas: FullQuotas;
}

/** A refusal: the rule (a field of the policy) and why, for the status. */
export interface Refusal {
  rule: string;
  message: string;
}

/** The labels that mark control-plane nodes (kubeadm's current and former role labels). */
export const CONTROL_PLANE_LABELS = ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"];

/** `metav1.LabelSelector` semantics. An absent selector matches nothing; `{}` matches everything. */
export function matchesSelector(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (!selector) return false;
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (have[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const present = Object.prototype.hasOwnProperty.call(have, key);
    if (operator === "Exists" && !present) return false;
    if (operator === "DoesNotExist" && present) return false;
    if (operator === "In" && !(present && values.includes(have[key]!))) return false;
    if (operator === "NotIn" && present && values.includes(have[key]!)) return false;
  }
  return true;
}

function fill(spec: EbpfTenancyPolicySpec | undefined, base: Pick<EffectivePolicy, "source" | "name" | "describe">): EffectivePolicy {
  return {
    ...base,
    ...(spec?.programTypes ? { programTypes: spec.programTypes } : {}),
    targetScopes: spec?.targetScopes ?? ["pod"],
    ...(spec?.nodeScopeProgramTypes ? { nodeScopeProgramTypes: spec.nodeScopeProgramTypes } : {}),
    helpers: { sets: spec?.helpers?.sets ?? ["observe"], names: spec?.helpers?.names ?? [] },
    kfuncs: spec?.helpers?.kfuncs ?? [],
    verdictMode: spec?.verdictMode ?? "observe",
    crossNamespacePodLabels: spec?.crossNamespacePodLabels ?? false,
    nodes: { ...(spec?.nodes?.selector ? { selector: spec.nodes.selector } : {}), controlPlane: spec?.nodes?.controlPlane ?? false },
    quotas: { ...DEFAULT_QUOTAS, ...(spec?.quotas ?? {}) },
  };
}

/** What a namespace's policy is computed from, as the operator and the agents watch it. */
export interface PolicyInputs {
  namespaces: { get(name: string): { metadata?: { labels?: Record<string, string> } } | undefined };
  policies: { list(): readonly PolicyObject[] };
  /** The registered program types and whether each plugin declares `kernelWide`. */
  plugins: { programTypes(): readonly string[]; forType(type: string): { plugin: { meta: { kernelWide?: boolean } } } };
}

/** The policy governing `namespace` now: its labels and the policies as last watched. */
export function currentPolicy(namespace: string, inputs: PolicyInputs): EffectivePolicy {
  const kernelWide = inputs.plugins.programTypes().filter((t) => inputs.plugins.forType(t).plugin.meta.kernelWide);
  return effectivePolicy(namespace, inputs.namespaces.get(namespace)?.metadata?.labels, inputs.policies.list(), kernelWide);
}

/**
 * The policy governing `namespace` (with these labels). `kernelWideTypes`: the program types whose
 * plugins declare `kernelWide` (what the namespace label grants node-wide).
 */
export function effectivePolicy(
  namespace: string,
  namespaceLabels: Readonly<Record<string, string>> | undefined,
  policies: readonly PolicyObject[],
  kernelWideTypes: readonly string[],
): EffectivePolicy {
  const selecting = policies
    .filter((p) => matchesSelector(p.spec?.namespaceSelector, { ...namespaceLabels, "kubernetes.io/metadata.name": namespace }))
    .sort((a, b) => (b.spec.priority ?? 0) - (a.spec.priority ?? 0) || a.metadata.name.localeCompare(b.metadata.name));
  const chosen = selecting[0];
  if (chosen) return fill(chosen.spec, { source: "EbpfTenancyPolicy", name: chosen.metadata.name, describe: `EbpfTenancyPolicy "${chosen.metadata.name}"` });
  if (namespaceLabels?.[ALLOW_KERNEL_WIDE_LABEL] === "true") {
    return fill(
      { namespaceSelector: {}, targetScopes: ["pod", "node"], nodeScopeProgramTypes: [...kernelWideTypes] },
      { source: "NamespaceLabel", name: ALLOW_KERNEL_WIDE_LABEL, describe: `the namespace label ${ALLOW_KERNEL_WIDE_LABEL}=true` },
    );
  }
  return fill(undefined, { source: "Default", name: "default", describe: `the default policy (no EbpfTenancyPolicy selects namespace "${namespace}")` });
}

/** Enforcements by grant (see enforcementOf); a handful of distinct policies in practice. */
const enforcements = new Map<string, LoadEnforcement>();
const MAX_ENFORCEMENTS = 256;

/**
 * What the loader enforces for a namespace under `policy` (`enforcementForPolicy` of its helper
 * grant, kfuncs, verdict mode and object quotas), and what the operator checks a compiled object
 * against. An unchanged grant gives the very same object: the agent takes any change of it as a
 * change of the resource (the object is checked again, the program maybe reloaded).
 */
export function enforcementOf(policy: EffectivePolicy): LoadEnforcement {
  const { quotas } = policy;
  const grant: EnforcementGrant = {
    helpers: { sets: [...policy.helpers.sets], names: [...policy.helpers.names] },
    kfuncs: [...policy.kfuncs],
    verdictMode: policy.verdictMode,
    quotas: {
      instructions: quotas.instructions,
      mapEntries: quotas.mapEntries,
      mapBytesPerEbpfMap: quotas.mapBytesPerEbpfMap,
      mapBytesPerNamespacePerNode: quotas.mapBytesPerNamespacePerNode,
    },
  };
  const key = JSON.stringify(grant);
  let enforcement = enforcements.get(key);
  if (!enforcement) {
    if (enforcements.size >= MAX_ENFORCEMENTS) enforcements.clear();
    enforcement = enforcementForPolicy(grant);
    enforcements.set(key, enforcement);
  }
  return enforcement;
}

/** The policy field a violation of the object rules comes from (for `status.policy.rule`). */
export function policyRuleOf(violation: Violation): string {
  switch (violation.rule) {
    case "helper":
    case "map-type": // map types follow the helpers granted (prog_array with bpf_tail_call, ...)
      return "helpers";
    case "kfunc":
    case "ksym":
      return "helpers.kfuncs";
    case "instructions":
      return "quotas.instructions";
    case "map-entries":
      return "quotas.mapEntries";
    case "map-memory":
    case "maps-memory":
      return "quotas.mapBytesPerEbpfMap";
    case "namespace-maps-memory":
      return "quotas.mapBytesPerNamespacePerNode";
    case "map-pinning":
      return "baseline"; // no policy allows it
    default:
      return violation.rule.startsWith("observe-") ? "verdictMode" : violation.rule;
  }
}

/** Most violations spelled out in one refusal (the rest are counted). */
const MAX_VIOLATIONS_SHOWN = 8;

/** A refusal for an object that breaks the rules of `policy`: the first violation's policy field, every violation's message. */
export function objectRefusal(policy: EffectivePolicy, violations: readonly Violation[]): Refusal {
  const shown = violations.slice(0, MAX_VIOLATIONS_SHOWN);
  const more = violations.length - shown.length;
  const why = `the compiled object breaks the policy's rules: ${formatViolations(shown)}${more > 0 ? ` (and ${more} more)` : ""}`;
  return refuse(policy, policyRuleOf(violations[0]!), why);
}

/**
 * The scope of a program's target. Without `spec.selector` every target is node-wide (an
 * interface, a host cgroup path, a tracepoint or kprobe on every task); with it the target is
 * the namespace's own pods (issue 12): the agent attaches a cgroup program to each selected
 * pod's cgroup only, and refuses the types it cannot confine to pods (never running them
 * node-wide), so "pod" here is what runs.
 */
export function targetScopeOf(spec: EbpfMapSpec): TargetScope {
  return spec.selector !== undefined ? "pod" : "node";
}

/** What admission needs to know of a resource. */
export interface AdmissionResource {
  metadata: { name: string; namespace: string; creationTimestamp?: Date | string; deletionTimestamp?: Date | string };
  spec: EbpfMapSpec;
}

const refuse = (policy: EffectivePolicy, rule: string, why: string): Refusal => ({ rule, message: `refused by ${policy.describe}, rule ${rule}: ${why}` });

/**
 * Whether `policy` admits `resource`; `siblings` are the EbpfMaps of its namespace (itself
 * included or not), for the EbpfMaps quota: the oldest are admitted first (creation time, then
 * name), so adding one never takes a running one's place.
 */
export function admit(resource: AdmissionResource, policy: EffectivePolicy, siblings: readonly AdmissionResource[]): Refusal | undefined {
  const { spec } = resource;
  for (const p of programsOf(spec)) {
    if (policy.programTypes && !policy.programTypes.includes(p.type)) {
      return refuse(policy, "programTypes", `${p.field}.type "${p.type}" is not allowed (allowed: ${policy.programTypes.join(", ") || "none"})`);
    }
    const scope = targetScopeOf(spec);
    if (!policy.targetScopes.includes(scope)) {
      return refuse(
        policy,
        "targetScopes",
        scope === "node"
          ? `${p.field}.target "${p.target}" of program type ${p.type} is node-wide (it sees every pod on the node, not only this namespace's), and the policy allows ${describeScopes(policy.targetScopes)}${grantHint(policy, resource.metadata.namespace)}`
          : `${p.field} targets the namespace's own pods, and the policy allows ${describeScopes(policy.targetScopes)}`,
      );
    }
    if (scope === "node" && policy.nodeScopeProgramTypes && !policy.nodeScopeProgramTypes.includes(p.type)) {
      return refuse(
        policy,
        "nodeScopeProgramTypes",
        `${p.field}.target "${p.target}" of program type ${p.type} is node-wide, and the policy allows node-wide targets only for ${policy.nodeScopeProgramTypes.join(", ") || "no program type"}`,
      );
    }
  }
  // Checked whatever the scope: a program writes any cgroup id it likes into its keys, so the
  // decoders themselves are what names other namespaces' pods.
  const crossNamespace = crossNamespaceDecoderUses(spec)[0];
  if (crossNamespace && !policy.crossNamespacePodLabels) {
    return refuse(
      policy,
      "crossNamespacePodLabels",
      `${crossNamespace.field} "${crossNamespace.decoder}" names the pods of every namespace on the node, and the policy does not allow labels from other namespaces' pods (a cluster admin grants them with crossNamespacePodLabels: true; a pod-scoped resource labels its own pods with the decoder pod)`,
    );
  }
  // The cgroup decoder turns any cgroup id into its path on the node (other pods' UIDs and
  // container ids, the host's services): a node view, granted with node-wide targets only.
  const nodeView = nodeViewDecoderUses(spec)[0];
  if (nodeView && !policy.targetScopes.includes("node")) {
    return refuse(
      policy,
      "targetScopes",
      `${nodeView.field} "${nodeView.decoder}" names any cgroup of the node (host paths, other pods' UIDs and container ids), and the policy allows ${describeScopes(policy.targetScopes)}; a pod-scoped resource labels its own pods with the decoder pod${grantHint(policy, resource.metadata.namespace)}`,
    );
  }
  const codeBytes = Buffer.byteLength(spec.code, "utf8");
  if (codeBytes > policy.quotas.codeBytes) {
    return refuse(policy, "quotas.codeBytes", `spec.code is ${codeBytes} bytes; the quota is ${policy.quotas.codeBytes}`);
  }
  // Its place in the namespace by age: the older live siblings, counted (not sorted: this runs on
  // every reconcile, and sorting the namespace each time cost N² log N over N resources).
  let position = 0;
  if (siblings.length >= policy.quotas.ebpfMaps) {
    const mine = ageOf(resource);
    for (const s of siblings) {
      if (s.metadata.deletionTimestamp || s.metadata.name === resource.metadata.name) continue;
      const age = ageOf(s);
      if (age < mine || (age === mine && s.metadata.name.localeCompare(resource.metadata.name) < 0)) position += 1;
    }
  }
  if (position >= policy.quotas.ebpfMaps) {
    return refuse(
      policy,
      "quotas.ebpfMaps",
      `namespace "${resource.metadata.namespace}" may have ${policy.quotas.ebpfMaps} EbpfMaps, and ${position} older ones take the quota`,
    );
  }
  return undefined;
}

/** For a namespace no policy selects: how a cluster admin grants node-wide targets. */
function grantHint(policy: EffectivePolicy, namespace: string): string {
  if (policy.source !== "Default") return "";
  return `; a cluster admin grants node-wide targets with an EbpfTenancyPolicy selecting namespace "${namespace}" (targetScopes: [pod, node]), or, for kernel-wide tracing types, with the namespace label ${ALLOW_KERNEL_WIDE_LABEL}=true`;
}

function describeScopes(scopes: readonly TargetScope[]): string {
  if (scopes.length === 0) return "no target scope";
  return scopes.map((s) => (s === "pod" ? "the pod scope only (the namespace's own workloads, spec.selector)" : "node-wide targets")).join(" and ");
}

/** Creation time in ms; none (not created yet) sorts last. */
function ageOf(resource: AdmissionResource): number {
  const created = resource.metadata.creationTimestamp;
  return created ? new Date(created).getTime() : Number.MAX_SAFE_INTEGER;
}

export function isControlPlane(node: V1Node): boolean {
  const labels = node.metadata?.labels ?? {};
  return CONTROL_PLANE_LABELS.some((l) => l in labels);
}

/** Why the policy keeps the namespace's programs off this node, or undefined when it may run them. */
export function nodeRefusal(policy: EffectivePolicy, node: V1Node): string | undefined {
  if (!policy.nodes.controlPlane && isControlPlane(node))
    return `${policy.describe}, rule nodes.controlPlane: node "${node.metadata?.name}" is a control-plane node`;
  if (policy.nodes.selector && !matchesSelector(policy.nodes.selector, node.metadata?.labels)) {
    return `${policy.describe}, rule nodes.selector: node "${node.metadata?.name}" does not match ${JSON.stringify(policy.nodes.selector)}`;
  }
  return undefined;
}
