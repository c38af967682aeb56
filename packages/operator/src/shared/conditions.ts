/** Condition types and reasons the operator writes on `EbpfMap.status`, in one place. */
export const Conditions = {
  Compiled: "Compiled",
  Admitted: "Admitted",
  Ready: "Ready",
  Degraded: "Degraded",
} as const;

export const Reasons = {
  Compiled: "Compiled",
  CompileFailed: "CompileFailed",
  InvalidSpec: "InvalidSpec",
  UnknownProgramType: "UnknownProgramType",
  /** The namespace's tenancy policy refuses the resource; the message names the policy and the rule. */
  PolicyRefused: "PolicyRefused",
  Admitted: "Admitted",
  /** spec.nodeSelector selects only nodes the policy keeps the namespace off (control plane, nodes.selector). */
  NodesNotAllowed: "NodesNotAllowed",
  ObjectTooLarge: "ObjectTooLarge",
  /** The compiled object cannot be inspected (the agents would refuse it too). */
  ObjectRefused: "ObjectRefused",
  NoNodesSelected: "NoNodesSelected",
  NodesNotReady: "NodesNotReady",
  AllNodesReady: "AllNodesReady",
  NodesFailed: "NodesFailed",
  NoFailures: "NoFailures",
  NotCompiled: "NotCompiled",
} as const;
