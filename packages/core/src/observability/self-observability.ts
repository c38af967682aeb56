/**
 * Wires the agent's self-observability around its metric registry: kernel BPF run-time stats (a
 * stats handle held while the agent runs), per-program and per-resource metrics, and the
 * optional remote-write forwarder. `/metrics` and remote-write share one read: concurrent callers
 * wait for the map reads already under way instead of reading every map again, and both then
 * serve the same samples (as text, as rows).
 */
import { enableStats, type StatsHandle } from "@ebpf-operator/libbpf";
import { hostname } from "node:os";
import type { Registry } from "prom-client";
import type { ResourceStatus } from "../api/resource-status.js";
import { describeError } from "../errors.js";
import { createRemoteWriteMetrics } from "../forwarding/remote-write-metrics.js";
import { RemoteWriter, type RemoteWriteSettings } from "../forwarding/remote-write.js";
import { gatherSeries } from "../forwarding/samples.js";
import type { Logger } from "../logger.js";
import { sharedReads, type MetricRegistry, type RegistryRead } from "../scrape/registry.js";
import type { AgentMetrics } from "./agent-metrics.js";
import { ProgramStats } from "./program-stats.js";

export interface ObservabilitySettings {
  /**
   * Hold BPF_STATS_RUN_TIME on while the agent runs (default true). The kernel then times every
   * run of every BPF program on the node: two clock reads and two per-CPU adds, some tens of ns
   * per run.
   */
  bpfStats?: boolean;
  /** Forward the samples to a Prometheus remote-write receiver. */
  remoteWrite?: RemoteWriteSettings;
}

/** The agent's own families (node health): served on the whole-node view only, never a tenant's. */
export const AGENT_FAMILY_PREFIX = "ebpf_operator_agent_";

export class SelfObservability {
  /** Reads every family (the maps), or joins the read already in progress; release() each. */
  readonly read: () => Promise<RegistryRead>;
  /**
   * One namespace's series: only that namespace's maps are read, the agent's own families are
   * left out; concurrent reads of one namespace share the read; release() each.
   */
  readonly readNamespace: (namespace: string) => Promise<RegistryRead>;
  private readonly writer: RemoteWriter | undefined;
  private stats: StatsHandle | undefined;

  /**
   * `promRegistry`: where the agent's prom-client metrics are registered (remote-write's own are
   * added there); `families`: the registry /metrics serves, wrapping it.
   */
  constructor(
    promRegistry: Registry,
    families: MetricRegistry,
    metrics: Pick<AgentMetrics, "scrapeDuration">,
    statuses: () => ResourceStatus[],
    private readonly settings: ObservabilitySettings,
    private readonly logger: Logger,
  ) {
    // /metrics and remote-write asking at once share one read (and its map buffers).
    this.read = sharedReads(async () => {
      const end = metrics.scrapeDuration.startTimer();
      try {
        return await families.read();
      } finally {
        end();
      }
    });
    // Scrapes of one tenant's view at once share its read too.
    this.readNamespace = sharedReads((namespace: string) =>
      families.read({ namespaces: new Set([namespace]) }, (family) => !family.name.startsWith(AGENT_FAMILY_PREFIX)),
    );
    new ProgramStats(families, { statuses, statsEnabled: () => this.stats !== undefined });
    const writeMetrics = createRemoteWriteMetrics(promRegistry);
    const remote = settings.remoteWrite;
    if (remote) {
      const labels = remote.labels ?? { job: "ebpf-agent", instance: hostname() };
      this.writer = new RemoteWriter(remote, () => gatherSeries(this.read, labels), writeMetrics, logger.child({ component: "remote-write" }));
    }
  }

  start(): void {
    if (this.settings.bpfStats !== false && !this.stats) {
      try {
        this.stats = enableStats();
      } catch (error) {
        this.logger.warn({ error: describeError(error) }, "BPF run-time stats unavailable: ebpf_operator_program_run_* stay 0");
      }
    }
    if (this.writer) {
      this.writer.start();
      this.logger.info({ url: this.settings.remoteWrite!.url }, "remote-write enabled");
    }
  }

  async stop(): Promise<void> {
    await this.writer?.stop();
    this.stats?.close();
    this.stats = undefined;
  }
}
