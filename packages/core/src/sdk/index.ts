/**
 * @ebpf-operator/core/sdk — everything a program-type plugin needs, and nothing of the agent:
 * the plugin contract (`definePlugin`, `ProgramTypePlugin` and the types it uses), the target
 * error plugins throw, label decoders' `Decoder` and `SKIP`, and two helpers (suggestions for
 * misspelt names, a logger for tests). The conformance suite is `@ebpf-operator/core/testing`.
 *
 * This entry point is the plugin API: `etc/sdk.api.md` records it, and a change to it is a
 * change of `PLUGIN_API_VERSION` or of core's version range (docs/plugins.md).
 */
export {
  PLUGIN_API_VERSION,
  PluginTargetError,
  SKIP,
  definePlugin,
  type AdoptInput,
  type AttachInput,
  type Attachment,
  type Decoder,
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
} from "../plugin/sdk.js";
export type { ResourceRef } from "../api/manifest.js";
export { createLogger, type Logger, type LogLevel, type LoggerOptions } from "../logger.js";
export { closestNames, editDistance } from "../util/closest-names.js";
