/**
 * Serves eBPF maps as metric families. Nothing is accumulated: on each scrape every exported
 * map is read (batch lookups: a large map on the thread pool, a small one in 2 ms slices on the JS
 * thread; BpfMap.readAll) and its current values are served. Resources
 * that export the same metric name share one family (told apart by the `namespace` and
 * `ebpfmap` labels); a resource that would change an existing family's type or help is refused.
 *
 * A read only takes the map's bytes; decoding and rendering run when a consumer walks the read
 * (as text for /metrics, as rows for remote-write), in bounded steps. A scoped read (one
 * tenant's view) reads only the maps of that tenant's resources. The bytes are read into
 * buffers each map keeps (no allocation per scrape) until the consumer releases the read.
 *
 * Series caps: `setSeriesLimit` tells, per resource, how many series it may serve on this node
 * and how many its namespace may (cluster mode: the namespace's tenancy policy,
 * quotas.seriesPerEbpfMap and quotas.seriesPerNamespace). The split is static, so it needs no
 * coordination between the reads of one scrape: the namespace's budget is shared equally by its
 * resources served here, a resource's budget (the smaller of the two) equally by its metrics.
 * What a read has beyond its share is summed into an overflow series and counted in
 * `ebpf_operator_agent_series_dropped_total{namespace,ebpfmap}` (plan-rows.ts). The limits are
 * asked at every read, so a policy change applies at the next scrape.
 */
import { possibleCpus, type BpfMap, type MapEntries } from "@ebpf-operator/libbpf";
import type { Counter, Gauge, Histogram } from "prom-client";
import { refKey, type ResourceRef } from "../api/manifest.js";
import type { MetricKind } from "../api/metric-names.js";
import { describeError, operatorError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { MetricPlan } from "../plan/metric-plan.js";
import { inScope, type FamilyRead, type MetricFamily, type Row, type Scope } from "./family.js";
import { planBytes, planRows, planText, type SeriesCap } from "./plan-rows.js";
import type { MetricRegistry } from "./registry.js";

/** One resource's map served as one metric. */
export interface MapSource {
  ref: ResourceRef;
  /** The map, as the loader opened it (BpfMap fits). */
  map: Pick<BpfMap, "readAll" | "info">;
  plan: MetricPlan;
  logger: Logger;
}

/** The agent's own metrics about map reads (observability/agent-metrics.ts). */
export interface MapReadMetrics {
  seriesDropped: Counter<"namespace" | "ebpfmap">;
  mapReadErrors: Counter<"namespace" | "ebpfmap" | "map">;
  mapReadDuration: Histogram<"method">;
  mapEntries: Gauge<"namespace" | "ebpfmap" | "map">;
  mapMaxEntries: Gauge<"namespace" | "ebpfmap" | "map">;
}

interface SourceRead {
  source: MapSource;
  entries: MapEntries;
  cap: SeriesCap;
}

/** A resource's series budgets on this node; absent fields (or undefined): no cap. */
export interface SeriesBudget {
  perEbpfMap?: number;
  perNamespace?: number;
}
export type SeriesLimit = (ref: ResourceRef) => SeriesBudget | undefined;

/** One served metric name and the resources' maps behind it. */
class MapFamily implements MetricFamily {
  readonly sources = new Map<string, MapSource>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricKind,
    private readonly reader: (source: MapSource) => Promise<MapEntries | undefined>,
    private readonly cpus: number,
    private readonly capOf: (source: MapSource) => SeriesCap,
  ) {}

  async read(scope?: Scope): Promise<FamilyRead> {
    const selected = [...this.sources.values()].filter((source) => inScope(scope, source.ref.namespace));
    const reads = (await Promise.all(selected.map(async (source) => ({ source, entries: await this.reader(source), cap: this.capOf(source) })))).filter(
      (r): r is SourceRead => r.entries !== undefined,
    );
    const cpus = this.cpus;
    const base = (ref: ResourceRef) => ({ namespace: ref.namespace, ebpfmap: ref.name });
    return {
      *lines() {
        for (const { source, entries, cap } of reads) yield* planText(entries, source.plan, cpus, base(source.ref), cap);
      },
      *bytes() {
        for (const { source, entries, cap } of reads) yield* planBytes(entries, source.plan, cpus, base(source.ref), cap);
      },
      *rows(): Generator<Row[]> {
        for (const { source, entries, cap } of reads) yield* planRows(entries, source.plan, cpus, base(source.ref), cap);
      },
      release() {
        for (const { entries } of reads) entries.release?.();
      },
    };
  }
}

export class MapCollector {
  private readonly families = new Map<string, MapFamily>();
  private readonly cpus = possibleCpus();
  private seriesLimit: SeriesLimit = () => undefined;

  constructor(
    private readonly registry: MetricRegistry,
    private readonly metrics: MapReadMetrics,
  ) {}

  /** How many series each resource's metrics may serve (asked at every read). */
  setSeriesLimit(limit: SeriesLimit): void {
    this.seriesLimit = limit;
  }

  /** The share of one metric of `source`'s resource (see the file comment). */
  private capOf(source: MapSource): SeriesCap {
    const budget = this.seriesLimit(source.ref);
    if (budget?.perEbpfMap === undefined && budget?.perNamespace === undefined) return {};
    const key = refKey(source.ref);
    let metrics = 0;
    const resources = new Set<string>();
    for (const family of this.families.values()) {
      if (family.sources.has(key)) metrics++;
      for (const s of family.sources.values()) if (s.ref.namespace === source.ref.namespace) resources.add(refKey(s.ref));
    }
    const namespaceShare = budget.perNamespace === undefined ? Infinity : Math.floor(budget.perNamespace / Math.max(1, resources.size));
    const resourceBudget = Math.min(budget.perEbpfMap ?? Infinity, namespaceShare);
    const maxSeries = Math.floor(resourceBudget / Math.max(1, metrics));
    const { seriesDropped } = this.metrics;
    const labels = { namespace: source.ref.namespace, ebpfmap: source.ref.name };
    return { maxSeries, onDropped: (n) => seriesDropped.inc(labels, n) };
  }

  /** Starts serving a resource's map; throws EOP_ERR_METRIC_CONFLICT on a clash. */
  add(source: MapSource): void {
    const { config } = source.plan;
    const existing = this.families.get(config.name);
    if (existing) {
      if (existing.type !== config.type || existing.help !== config.help) {
        // Name another resource only when it is the same tenant's: another namespace's name,
        // type and help are not this tenant's to read.
        const own = [...existing.sources.values()].find((s) => s.ref.namespace === source.ref.namespace)?.ref;
        const served = own
          ? `EbpfMap "${refKey(own)}" as a ${existing.type} with help "${existing.help}"`
          : "a resource in another namespace, with another type or help";
        throw operatorError(
          "EOP_ERR_METRIC_CONFLICT",
          `metric "${config.name}" of EbpfMap "${refKey(source.ref)}" is already served on this node by ${served}; use the same type and help, or another metric name`,
        );
      }
      existing.sources.set(refKey(source.ref), source);
      return;
    }
    if (this.registry.has(config.name)) {
      throw operatorError("EOP_ERR_METRIC_CONFLICT", `metric name "${config.name}" of EbpfMap "${refKey(source.ref)}" is reserved by the agent`);
    }
    const family = new MapFamily(
      config.name,
      config.help,
      config.type,
      (s) => this.readSource(s),
      this.cpus,
      (s) => this.capOf(s),
    );
    family.sources.set(refKey(source.ref), source);
    this.families.set(config.name, family);
    this.registry.register(family);
  }

  /** Stops serving a resource; its series disappear from the next scrape. */
  remove(ref: ResourceRef): void {
    for (const [name, family] of this.families) {
      const source = family.sources.get(refKey(ref));
      if (!source) continue;
      family.sources.delete(refKey(ref));
      this.metrics.mapEntries.remove(mapLabels(source));
      this.metrics.mapMaxEntries.remove(mapLabels(source));
      this.metrics.seriesDropped.remove({ namespace: ref.namespace, ebpfmap: ref.name });
      if (family.sources.size === 0) {
        this.families.delete(name);
        this.registry.unregister(name);
      }
    }
  }

  private async readSource(source: MapSource): Promise<MapEntries | undefined> {
    const started = process.hrtime.bigint();
    try {
      // Into buffers the map keeps from one scrape to the next; the read's release() hands them back.
      const entries = await source.map.readAll({ reuse: true });
      this.metrics.mapReadDuration.observe({ method: entries.method }, Number(process.hrtime.bigint() - started) / 1e9);
      this.metrics.mapEntries.set(mapLabels(source), entries.count);
      this.metrics.mapMaxEntries.set(mapLabels(source), source.map.info.maxEntries);
      return entries;
    } catch (error) {
      this.metrics.mapReadErrors.inc(mapLabels(source));
      source.logger.warn({ code: "EOP_ERR_MAP_READ", map: source.plan.config.map, error: describeError(error) }, "map read failed at scrape time");
      return undefined;
    }
  }
}

function mapLabels(source: MapSource): { namespace: string; ebpfmap: string; map: string } {
  return { namespace: source.ref.namespace, ebpfmap: source.ref.name, map: source.plan.config.map };
}
