/** Condition types and reasons the operator writes on `EbpfMap.status`, in one place. */
export const Conditions = {
  Compiled: "Compiled",
  Ready: "Ready",
  Degraded: "Degraded",
} as const;

export const Reasons = {
  Compiled: "Compiled",
  CompileFailed: "CompileFailed",
  InvalidSpec: "InvalidSpec",
  UnknownProgramType: "UnknownProgramType",
  KernelWideNotAllowed: "KernelWideNotAllowed",
  ObjectTooLarge: "ObjectTooLarge",
  NoNodesSelected: "NoNodesSelected",
  NodesNotReady: "NodesNotReady",
  AllNodesReady: "AllNodesReady",
  NodesFailed: "NodesFailed",
  NoFailures: "NoFailures",
  NotCompiled: "NotCompiled",
} as const;
