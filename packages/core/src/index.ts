/**
 * @ebpf-operator/core — the EbpfMap API, the plugin SDK and the agent runtime.
 */
export * from "./api/schema.js";
export * from "./api/status-schema.js";
export * from "./api/policy-schema.js";
export { validateEbpfMapObject, formatFieldErrors, type FieldError, type ValidationResult } from "./api/validate.js";
export { programsOf, programField, checkProgramsSpec, describePrograms, type ResourceProgram } from "./api/programs.js";
export {
  parseManifests,
  refKey,
  DEFAULT_NAMESPACE,
  type ResourceRef,
  type Desired,
  type DesiredResource,
  type ParsedManifest,
  type ManifestProblem,
  type ParseResult,
} from "./api/manifest.js";
export { metricNameFor, sanitizeMetricName, isValidMetricName, isValidLabelName } from "./api/metric-names.js";
export { EbpfOperatorError, ERROR_CODES, describeError, errorCode, operatorError, type ErrorCode } from "./errors.js";
export { createLogger, resourceLogger, type Logger, type LogLevel } from "./logger.js";
export {
  PLUGIN_API_VERSION,
  PluginTargetError,
  SKIP,
  definePlugin,
  type Decoder,
  type Attachment,
  type AdoptInput,
  type AttachInput,
  type JsonSchema,
  type KernelSupport,
  type PluginHost,
  type PluginMeta,
  type PodCgroupTarget,
  type PodGateTarget,
  type PodNetnsTarget,
  type PodScopeSupport,
  type PrepareInput,
  type ProgramTypePlugin,
} from "./plugin/sdk.js";
export { PLUGIN } from "./plugin/tokens.js";
export { PluginRegistry, type PluginReport } from "./plugin/plugin-registry.js";
export { importPlugin, type PluginLoadOutcome } from "./plugin/plugin-import.js";
export { ensureBpffs, ensureTracefs } from "./kernel/mounts.js";
export { StaticPodSource, type PodContainer, type PodInfo, type PodSource } from "./pods/pod-source.js";
export {
  containerIdTable,
  defaultPodScope,
  podIdTable,
  scopedPods,
  targetCgroup,
  type PodScopeDependencies,
  type ScopedPod,
  type UnplacedPod,
} from "./agent/pod-scope.js";
export { createPodDecoder } from "./decoders/pod.js";
export { createContainerDecoder } from "./decoders/container.js";
export { createCgroupPodDecoders } from "./decoders/cgroup-pod.js";
export { PodLabels, type PodLabelOptions } from "./agent/pod-labels.js";
export { matchesLabels, selectPods, type LabelRequirement, type PodSelector } from "./pods/selector.js";
export { findCgroup2MountInfo, parseCgroup2MountInfo, type Cgroup2Mount } from "./pods/cgroup-mount.js";
export { parsePodCgroupPath, containerIdOf, type PodCgroupPath, type ContainerCgroupPath } from "./pods/cgroup-layout.js";
export { PodCgroupIndex, cgroupPids, type PodCgroup, type PodCgroupScan, type ContainerCgroup, type CgroupRef } from "./pods/pod-cgroups.js";
export { openPodNetns, podNetns, type OpenPodNetns, type PodNetns, type PodNetnsLookup } from "./pods/pod-netns.js";
export { CgroupIdentities, type CgroupIdentity, type CgroupIdentityOptions } from "./pods/cgroup-identity.js";
export { ProgramLoader, loadKeyOf, type LoadedProgram, type LoadRequest } from "./loader/program-loader.js";
export {
  ObjectRefusedError,
  TRACING_CAPABILITIES,
  capabilitiesToDrop,
  enforcementForPolicy,
  objectMapBytes,
  objectViolations,
  verdictModeOf,
  type EnforcementGrant,
  type EnforcementResolver,
  type LoadEnforcement,
} from "./loader/enforcement.js";
export { checkCompiledObject, plannedPrograms } from "./loader/planned-programs.js";
export { analyzeVerifierLog, formatVerifierRejection, scrubKernelAddresses, type VerifierReport } from "./loader/verifier-report.js";
export * from "./inspect/index.js";
export { DEFAULT_PIN_ROOT, listPinnedGenerations, type PinnedGeneration } from "./loader/pin-layout.js";
export { MapCollector, type MapSource } from "./scrape/map-family.js";
export { MetricRegistry, ComputedFamily, TEXT_CONTENT_TYPE, promClientFamily, type PromClientMetric, type RegistryRead } from "./scrape/registry.js";
export { registryText } from "./scrape/registry-text.js";
export type { MetricFamily, FamilyRead, Row, Scope } from "./scrape/family.js";
export { AGENT_FAMILY_PREFIX, SelfObservability, type ObservabilitySettings } from "./observability/self-observability.js";
export { OBSERVABILITY_OPTIONS, OBSERVABILITY_USAGE, observabilitySettings, parseDuration, type ObservabilityFlags } from "./observability/options.js";
export type { RemoteWriteSettings } from "./forwarding/remote-write.js";
export { createAgentMetrics, type AgentMetrics } from "./observability/agent-metrics.js";
export { Agent, type AgentDependencies, type StatusListener } from "./agent/agent.js";
export { CompilingObjectProvider, type ObjectProvider, type ObjectRequest, type ProvidedObject } from "./agent/object-provider.js";
export { createAgentContainer, TOKENS, type AgentSettings } from "./host/container.js";
export { startAgentHost, type AgentHost, type AgentHostOptions } from "./host/agent-host.js";
export { loadPlugins, reportPlugins } from "./host/plugins.js";
export {
  COMMON_OPTIONS,
  COMMON_USAGE,
  helpAsked,
  packageVersion,
  parseCommand,
  parseLogLevel,
  runCli,
  runMain,
  signalled,
  type CliSpec,
} from "./host/flags.js";
export { FileSource, readManifests } from "./agent/file-source.js";
export { startStandaloneAgent, BUILTIN_PLUGINS, DEFAULT_LISTEN, type RunningAgent, type StandaloneOptions } from "./host/standalone.js";
export { setCondition, newStatus, ConditionType, Reason, type ResourceStatus, type Condition, type Phase } from "./api/resource-status.js";
export { BpfCompiler, COMPILER_DEFAULTS, CompileError, CompileMetrics, FairScheduler } from "./compiler/index.js";
export type {
  ClangRunsMs,
  CompileErrorCode,
  CompileRequest,
  CompileResult,
  CompilerOptions,
  Diagnostic,
  SandboxSetting,
  SandboxStatus,
  ToolchainInfo,
} from "./compiler/index.js";
export { writeFileAtomic } from "./compiler/atomic-file.js";
export { closestNames, editDistance } from "./util/closest-names.js";
export {
  CORE_DECODERS,
  DecoderRegistry,
  runChain,
  type CoreDecoderName,
  type DecoderChain,
  type DecoderConfig,
  type DecoderConflict,
} from "./decoders/registry.js";
export type { CoreDecoder, DecoderOptions } from "./decoders/decoder.js";
export { bucketLayout, upperBound, type BucketLayout } from "./plan/histogram.js";
export { histogramSeries, type HistogramSeries } from "./scrape/histogram-series.js";
export { metricConfigs, type MetricConfig, type MetricKind } from "./plan/metric-config.js";
export {
  checkMetricsSpec,
  crossNamespaceDecoderUses,
  nodeViewDecoderUses,
  CROSS_NAMESPACE_DECODERS,
  NODE_VIEW_DECODERS,
  MAX_HISTOGRAM_BUCKETS,
} from "./api/metrics-check.js";
export {
  RESERVED_LABEL_NAMES,
  RESERVED_LABEL_PREFIXES,
  FOREIGN_METRIC_PREFIXES,
  FOREIGN_METRIC_NAMES,
  reservedLabelReason,
  foreignMetricReason,
} from "./api/metric-names.js";
export {
  startHttpServer,
  parseListenAddress,
  type HttpHandlers,
  type ListenAddress,
  type RunningHttpServer,
  type TlsCredentials,
} from "./server/http-server.js";
export { isRefusal, routeOf, type AccessControl, type Identity, type ReadTarget, type Refusal } from "./server/access.js";
