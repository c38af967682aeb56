/**
 * The agent's dependency-injection container (inversify). Core services are bound once; every
 * configured plugin package contributes a `PLUGIN` binding (multi-injection), and the plugin
 * registry is built from all of them. Tests and embedders can rebind any service before
 * resolving `AGENT`.
 */
import { Container, type ServiceIdentifier } from "inversify";
import { Registry } from "prom-client";
import { createAgentMetrics, type AgentMetrics } from "../observability/agent-metrics.js";
import { MapCollector } from "../scrape/map-family.js";
import { MetricRegistry } from "../scrape/registry.js";
import { SelfObservability, type ObservabilitySettings } from "../observability/self-observability.js";
import { BpfCompiler, CompileMetrics, type SandboxSetting } from "../compiler/index.js";
import { CORE_DECODERS, DecoderRegistry } from "../decoders/registry.js";
import { ensureTracefs } from "../kernel/mounts.js";
import type { Logger } from "../logger.js";
import type { EnforcementResolver } from "../loader/enforcement.js";
import { ProgramLoader } from "../loader/program-loader.js";
import { IdleMemoryRelease } from "./idle-memory.js";
import { importPlugin } from "../plugin/plugin-import.js";
import { PluginRegistry } from "../plugin/plugin-registry.js";
import type { PluginHost } from "../plugin/sdk.js";
import { PLUGIN } from "../plugin/tokens.js";
import { Agent } from "../agent/agent.js";
import { CompilingObjectProvider, type ObjectProvider } from "../agent/object-provider.js";
import { defaultPodScope, type PodScopeDependencies } from "../agent/pod-scope.js";
import { PodLabels } from "../agent/pod-labels.js";

export interface AgentSettings extends ObservabilitySettings {
  pinRoot: string;
  cacheDir: string;
  /** Plugin package names or paths. */
  plugins: string[];
  /** The compiler's sandbox (standalone compiles): default "auto", i.e. bubblewrap when it works, and said loudly when not. */
  compileSandbox?: SandboxSetting;
  /** bubblewrap's path; default bwrap on PATH, /usr/bin/bwrap. */
  bwrapPath?: string;
  /** Wall (and CPU) time per compile; default the compiler's (30 s). */
  compileTimeoutMs?: number;
  /** Backoff of retries after failures that may pass by themselves (default 5 s doubling to 5 min; tests shorten it). */
  retry?: { minMs?: number; maxMs?: number };
}

export const TOKENS = {
  Settings: Symbol.for("ebpf-operator.AgentSettings") as ServiceIdentifier<AgentSettings>,
  Logger: Symbol.for("ebpf-operator.Logger") as ServiceIdentifier<Logger>,
  /** The agent's own prom-client metrics. */
  MetricsRegistry: Symbol.for("ebpf-operator.MetricsRegistry") as ServiceIdentifier<Registry>,
  /** Every metric family /metrics and remote-write serve: the agent's own and the eBPF maps. */
  Families: Symbol.for("ebpf-operator.Families") as ServiceIdentifier<MetricRegistry>,
  AgentMetrics: Symbol.for("ebpf-operator.AgentMetrics") as ServiceIdentifier<AgentMetrics>,
  Compiler: Symbol.for("ebpf-operator.Compiler") as ServiceIdentifier<BpfCompiler>,
  /** Compiles in standalone mode; cluster mode rebinds it to fetch the operator's objects. */
  ObjectProvider: Symbol.for("ebpf-operator.ObjectProvider") as ServiceIdentifier<ObjectProvider>,
  PluginRegistry: Symbol.for("ebpf-operator.PluginRegistry") as ServiceIdentifier<PluginRegistry>,
  PluginHost: Symbol.for("ebpf-operator.PluginHost") as ServiceIdentifier<PluginHost>,
  ProgramLoader: Symbol.for("ebpf-operator.ProgramLoader") as ServiceIdentifier<ProgramLoader>,
  Collector: Symbol.for("ebpf-operator.Collector") as ServiceIdentifier<MapCollector>,
  Decoders: Symbol.for("ebpf-operator.Decoders") as ServiceIdentifier<DecoderRegistry>,
  Agent: Symbol.for("ebpf-operator.Agent") as ServiceIdentifier<Agent>,
  /**
   * What the loader enforces per resource (rules, verdict mode, tracing privileges). Default: no
   * rules, enforce mode, tracing privileges only for tracing program types. A tenancy policy
   * rebinds it before `Agent` is resolved.
   */
  Enforcement: Symbol.for("ebpf-operator.Enforcement") as ServiceIdentifier<EnforcementResolver>,
  /**
   * Pod scope: the node's pods and their cgroups. Default: no pods (standalone); cluster mode
   * rebinds it to the node's pod informer before `Agent` is resolved.
   */
  Pods: Symbol.for("ebpf-operator.Pods") as ServiceIdentifier<PodScopeDependencies>,
  /** The cgroup id -> pod lookup behind the cgroup_namespace / cgroup_pod decoders (over `Pods`). */
  PodLabels: Symbol.for("ebpf-operator.PodLabels") as ServiceIdentifier<PodLabels>,
  /** Program stats, resource metrics, remote-write; `start()` it beside the HTTP server. */
  Observability: Symbol.for("ebpf-operator.Observability") as ServiceIdentifier<SelfObservability>,
} as const;

/** Failures of plugin imports, kept for the registry's report. */
const PLUGIN_IMPORT_FAILURES = Symbol.for("ebpf-operator.PluginImportFailures") as ServiceIdentifier<
  { specifier: string; error: { code: string; message: string } }[]
>;

/** Builds the container; plugin packages are imported here, each failure isolated and reported. */
export async function createAgentContainer(settings: AgentSettings, logger: Logger): Promise<Container> {
  const container = new Container({ defaultScope: "Singleton" });
  container.bind(TOKENS.Settings).toConstantValue(settings);
  container.bind(TOKENS.Logger).toConstantValue(logger);
  container.bind(TOKENS.MetricsRegistry).toConstantValue(new Registry());
  container.bind(TOKENS.Families).toDynamicValue((ctx) => new MetricRegistry(ctx.get(TOKENS.MetricsRegistry)));
  container.bind(TOKENS.AgentMetrics).toDynamicValue((ctx) => createAgentMetrics(ctx.get(TOKENS.MetricsRegistry)));
  container.bind(TOKENS.Compiler).toDynamicValue(
    (ctx) =>
      new BpfCompiler({
        cacheDir: ctx.get(TOKENS.Settings).cacheDir,
        sandbox: ctx.get(TOKENS.Settings).compileSandbox ?? "auto",
        ...(ctx.get(TOKENS.Settings).bwrapPath ? { bwrapPath: ctx.get(TOKENS.Settings).bwrapPath } : {}),
        ...(ctx.get(TOKENS.Settings).compileTimeoutMs ? { timeoutMs: ctx.get(TOKENS.Settings).compileTimeoutMs } : {}),
        metrics: new CompileMetrics(ctx.get(TOKENS.MetricsRegistry)),
        logger: ctx.get(TOKENS.Logger).child({ component: "compiler" }),
      }),
  );
  container.bind(TOKENS.ObjectProvider).toDynamicValue((ctx) => new CompilingObjectProvider(ctx.get(TOKENS.Compiler)));
  container.bind(TOKENS.PluginHost).toDynamicValue((ctx) => ({ logger: ctx.get(TOKENS.Logger), tracefs: ensureTracefs }));

  const failures: { specifier: string; error: { code: string; message: string } }[] = [];
  for (const specifier of settings.plugins) {
    const outcome = await importPlugin(specifier);
    if (outcome.plugin) container.bind(PLUGIN).toConstantValue(outcome.plugin);
    else failures.push({ specifier, error: outcome.error! });
  }
  container.bind(PLUGIN_IMPORT_FAILURES).toConstantValue(failures);
  container.bind(TOKENS.PluginRegistry).toDynamicValue((ctx) => {
    const registry = new PluginRegistry();
    for (const failure of ctx.get(PLUGIN_IMPORT_FAILURES)) registry.reportFailure(failure.specifier, failure.error);
    const plugins = ctx.getAll(PLUGIN, { optional: true });
    for (const plugin of plugins) registry.register(plugin);
    return registry;
  });
  container
    .bind(TOKENS.ProgramLoader)
    .toDynamicValue(
      (ctx) => new ProgramLoader(ctx.get(TOKENS.Settings).pinRoot, ctx.get(TOKENS.PluginRegistry), ctx.get(TOKENS.PluginHost), new IdleMemoryRelease()),
    );
  // Core decoders plus those of the plugins that registered; a plugin decoder taking a name
  // already registered is refused and logged (EOP_ERR_DECODER_CONFLICT).
  container.bind(TOKENS.Decoders).toDynamicValue((ctx) => {
    // cgroup_namespace / cgroup_pod name the node's pods (TOKENS.Pods: none standalone).
    const podLabels = ctx.get(TOKENS.PodLabels);
    const decoders = new DecoderRegistry({ ...CORE_DECODERS, ...Object.fromEntries(podLabels.decoders().map((d) => [d.name, d])) });
    const log = ctx.get(TOKENS.Logger);
    for (const report of ctx.get(TOKENS.PluginRegistry).reports) {
      const plugin = report.loaded ? ctx.getAll(PLUGIN, { optional: true }).find((p) => p.meta === report.meta) : undefined;
      for (const conflict of decoders.registerPlugin(plugin?.meta.name ?? report.specifier, plugin?.decoders ?? [])) {
        log.error({ code: conflict.code, plugin: conflict.plugin, decoder: conflict.decoder }, conflict.message);
      }
    }
    return decoders;
  });
  container.bind(TOKENS.Enforcement).toConstantValue(() => undefined);
  container.bind(TOKENS.Pods).toDynamicValue(() => defaultPodScope());
  container.bind(TOKENS.PodLabels).toDynamicValue((ctx) => new PodLabels(ctx.get(TOKENS.Pods)));
  container.bind(TOKENS.Collector).toDynamicValue((ctx) => new MapCollector(ctx.get(TOKENS.Families), ctx.get(TOKENS.AgentMetrics)));
  container.bind(TOKENS.Agent).toDynamicValue(
    (ctx) =>
      new Agent({
        objects: ctx.get(TOKENS.ObjectProvider),
        loader: ctx.get(TOKENS.ProgramLoader),
        collector: ctx.get(TOKENS.Collector),
        metrics: ctx.get(TOKENS.AgentMetrics),
        logger: ctx.get(TOKENS.Logger),
        decoders: ctx.get(TOKENS.Decoders),
        enforcement: ctx.get(TOKENS.Enforcement),
        pods: ctx.get(TOKENS.Pods),
        ...(ctx.get(TOKENS.Settings).retry ? { retry: ctx.get(TOKENS.Settings).retry } : {}),
      }),
  );
  container.bind(TOKENS.Observability).toDynamicValue((ctx) => {
    const agent = ctx.get(TOKENS.Agent);
    return new SelfObservability(
      ctx.get(TOKENS.MetricsRegistry),
      ctx.get(TOKENS.Families),
      ctx.get(TOKENS.AgentMetrics),
      () => agent.statuses(),
      ctx.get(TOKENS.Settings),
      ctx.get(TOKENS.Logger),
    );
  });
  return container;
}
