/** @ebpf-operator/operator — the controller and the Kubernetes plumbing it is built on. */
export { startOperator, type OperatorOptions, type RunningOperator } from "./operator.js";
export {
  EbpfMapReconciler,
  KubeEbpfMapWriter,
  type Cache,
  type EbpfMapWriter,
  type ReconcileResult,
  type ReconcilerDependencies,
} from "./controller/ebpfmap-reconciler.js";
export { ObjectStore, objectConfigMapName, MAX_OBJECT_BYTES } from "./shared/object-store.js";
export { LocalObjectCompiler, type CompiledObject, type ObjectCompileRequest, type ObjectCompiler } from "./compiler/object-compiler.js";
export { RemoteObjectCompiler } from "./compiler/remote-compiler.js";
export {
  startCompileServer,
  checkMemoryBudget,
  containerMemoryLimit,
  type CompileServerOptions,
  type RunningCompileServer,
} from "./compiler/compile-server.js";
export { parseSize } from "./compiler/compile-server-cli.js";
export { selectsNode, summarizeNodes } from "./shared/node-selection.js";
export * from "./shared/types.js";
export { Conditions, Reasons } from "./shared/conditions.js";
export { ebpfMapCrd, nodeStatusCrd, EBPFMAP_PLURAL, NODE_STATUS_PLURAL } from "./crd/crds.js";
export { renderCrds } from "./crd/generate.js";
export { Informer, objectKey, type InformerEvent } from "./kube/informer.js";
export { WorkQueue } from "./kube/work-queue.js";
export { LeaderElector } from "./kube/leader-election.js";
export { EventRecorder } from "./kube/events.js";
export { isConflict, isGone, isNotFound, apiMessage } from "./kube/api-errors.js";
export { startClusterAgent, type ClusterAgentOptions, type RunningClusterAgent } from "./agent/cluster-agent.js";
export { NodeStatusWriter, nodeStatusName } from "./agent/node-status-writer.js";
export { FetchingObjectProvider } from "./agent/fetching-object-provider.js";
export { NodePodSource, podInfoOf } from "./agent/node-pods.js";
export {
  KubeAccessControl,
  agentAttributes,
  operatorAttributes,
  METRICS_PERMISSION,
  type AccessAttributes,
  type KubeAccessOptions,
} from "./serving/kube-access.js";
export { ServingCertManager, serviceDnsNames, type ServingCertOptions, type ServedEndpoint } from "./serving/serving-cert-manager.js";
export type { SecureServingOptions } from "./serving/secure-serving.js";
