/**
 * Serves eBPF maps as metrics. Nothing is accumulated: on each scrape every exported map is read
 * (batch lookup, off the JS thread) and its current values are emitted. Resources that export the
 * same metric name share one family (told apart by the `namespace` and `ebpfmap` labels); a
 * resource that would change an existing family's type or help is refused with an error.
 *
 * Families are registered in prom-client's Registry as custom metric objects (prom-client's
 * Counter cannot be set to a value the kernel counted, and its Histogram cannot take kernel
 * buckets), so one registry serves both the eBPF metrics and the agent's own, with one content
 * type. The eBPF samples themselves are rendered here, at refresh, in time slices
 * (exposition.ts): the registry receives them as chunks of finished lines.
 */
import { possibleCpus, type BpfMap } from "@ebpf-operator/libbpf";
import type { Registry } from "prom-client";
import { refKey, type ResourceRef } from "../api/manifest.js";
import { describeError, operatorError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { AgentMetrics } from "../observability/agent-metrics.js";
import { LineWriter, Slicer, labelPairs, runSliced } from "./exposition.js";
import { flatLines } from "../plan/flat-metric.js";
import type { MetricConfig, MetricKind } from "../plan/metric-config.js";
import type { MetricPlan } from "../plan/metric-plan.js";
import { planLines, type PromValue } from "./plan-rows.js";

export interface MetricSource {
  ref: ResourceRef;
  metric: MetricConfig;
  map: BpfMap;
  /** How `spec.metrics[]` rows become samples; absent for the flat metric. */
  plan?: MetricPlan;
  logger: Logger;
}

interface Family {
  name: string;
  help: string;
  type: MetricKind;
  sources: Map<string, MetricSource>;
  samples: PromValue[];
}

/**
 * The shape prom-client's Registry renders (see Registry#getMetricsAsString), marked `chunked`
 * so /metrics streams its chunks instead of joining them (server/metrics-stream.ts).
 */
interface PromMetricObject {
  chunked: true;
  name: string;
  help: string;
  type: string;
  aggregator: "sum";
  get(): Promise<{ name: string; help: string; type: string; aggregator: "sum"; values: PromValue[] }>;
  reset(): void;
}

export class MapCollector {
  private readonly families = new Map<string, Family>();
  private readonly cpus = possibleCpus();

  constructor(
    private readonly registry: Registry,
    private readonly metrics: AgentMetrics,
  ) {}

  /** Starts serving a resource's map; throws EOP_ERR_METRIC_CONFLICT on a clash. */
  add(source: MetricSource): void {
    const { metric } = source;
    const existing = this.families.get(metric.name);
    if (existing) {
      if (existing.type !== metric.type || existing.help !== metric.help) {
        const other = [...existing.sources.values()][0]!.ref;
        throw operatorError(
          "EOP_ERR_METRIC_CONFLICT",
          `metric "${metric.name}" of EbpfMap "${refKey(source.ref)}" is already served by EbpfMap "${refKey(other)}" as a ${existing.type} with help "${existing.help}"; use the same type and help, or another spec.name`,
        );
      }
      existing.sources.set(refKey(source.ref), source);
      return;
    }
    if (this.registry.getSingleMetric(metric.name)) {
      throw operatorError("EOP_ERR_METRIC_CONFLICT", `metric name "${metric.name}" of EbpfMap "${refKey(source.ref)}" is reserved by the agent`);
    }
    const family: Family = { name: metric.name, help: metric.help, type: metric.type, sources: new Map([[refKey(source.ref), source]]), samples: [] };
    this.families.set(metric.name, family);
    // A structural metric object: see PromMetricObject. The cast is the registry's typing only.
    this.registry.registerMetric(toPromMetric(family) as unknown as Parameters<Registry["registerMetric"]>[0]);
  }

  /** Stops serving a resource; its series disappear from the next scrape. */
  remove(ref: ResourceRef): void {
    for (const [name, family] of this.families) {
      const source = family.sources.get(refKey(ref));
      if (!source) continue;
      family.sources.delete(refKey(ref));
      this.metrics.mapEntries.remove(mapLabels(source));
      this.metrics.mapMaxEntries.remove(mapLabels(source));
      if (family.sources.size === 0) {
        this.families.delete(name);
        this.registry.removeSingleMetric(name);
      }
    }
  }

  /** Reads every exported map once; call before rendering the registry. */
  async refresh(): Promise<void> {
    const end = this.metrics.scrapeDuration.startTimer();
    await Promise.all(
      [...this.families.values()].map(async (family) => {
        const perSource = await Promise.all([...family.sources.values()].map((source) => this.read(source)));
        family.samples = perSource.flat();
      }),
    );
    end();
  }

  private async read(source: MetricSource): Promise<PromValue[]> {
    const started = process.hrtime.bigint();
    try {
      const entries = await source.map.readAll();
      this.metrics.mapReadDuration.observe({ method: entries.method }, Number(process.hrtime.bigint() - started) / 1e9);
      this.metrics.mapEntries.set(mapLabels(source), entries.count);
      this.metrics.mapMaxEntries.set(mapLabels(source), source.map.info.maxEntries);
      // Decode and render in slices of a few ms, so a large map does not stall the event loop.
      const base = labelPairs({ namespace: source.ref.namespace, ebpfmap: source.ref.name });
      const writer = new LineWriter();
      const steps = source.plan
        ? planLines(entries, source.plan, this.cpus, base, writer)
        : flatLines(entries, source.map.info, source.map.isPerCpu, this.cpus, source.metric.name, base, writer);
      await runSliced(steps, new Slicer());
      return writer.finish();
    } catch (error) {
      this.metrics.mapReadErrors.inc({ namespace: source.ref.namespace, ebpfmap: source.ref.name, map: source.metric.map });
      source.logger.warn({ code: "EOP_ERR_MAP_READ", map: source.metric.map, error: describeError(error) }, "map read failed at scrape time");
      return [];
    }
  }
}

function mapLabels(source: MetricSource): { namespace: string; ebpfmap: string; map: string } {
  return { namespace: source.ref.namespace, ebpfmap: source.ref.name, map: source.metric.map };
}

function toPromMetric(family: Family): PromMetricObject {
  return {
    chunked: true,
    name: family.name,
    help: family.help,
    type: family.type,
    aggregator: "sum",
    get: async () => ({ name: family.name, help: family.help, type: family.type, aggregator: "sum", values: family.samples }),
    reset: () => undefined,
  };
}
