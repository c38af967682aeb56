/**
 * Serves eBPF maps as metric families. Nothing is accumulated: on each scrape every exported
 * map is read (batch lookups in 2 ms slices) and its current values are served. Resources
 * that export the same metric name share one family (told apart by the `namespace` and
 * `ebpfmap` labels); a resource that would change an existing family's type or help is refused.
 *
 * A read only takes the map's bytes; decoding and rendering run when a consumer walks the read
 * (as text for /metrics, as rows for remote-write), in bounded steps. A scoped read (one
 * tenant's view) reads only the maps of that tenant's resources. The bytes are read into
 * buffers each map keeps (no allocation per scrape) until the consumer releases the read.
 */
import { possibleCpus, type BpfMap, type MapEntries } from "@ebpf-operator/libbpf";
import type { Counter, Gauge, Histogram } from "prom-client";
import { refKey, type ResourceRef } from "../api/manifest.js";
import type { MetricKind } from "../api/metric-names.js";
import { describeError, operatorError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { MetricPlan } from "../plan/metric-plan.js";
import { inScope, type FamilyRead, type MetricFamily, type Row, type Scope } from "./family.js";
import { planBytes, planRows, planText } from "./plan-rows.js";
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
  mapReadErrors: Counter<"namespace" | "ebpfmap" | "map">;
  mapReadDuration: Histogram<"method">;
  mapEntries: Gauge<"namespace" | "ebpfmap" | "map">;
  mapMaxEntries: Gauge<"namespace" | "ebpfmap" | "map">;
}

interface SourceRead {
  source: MapSource;
  entries: MapEntries;
}

/** One served metric name and the resources' maps behind it. */
class MapFamily implements MetricFamily {
  readonly sources = new Map<string, MapSource>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricKind,
    private readonly reader: (source: MapSource) => Promise<MapEntries | undefined>,
    private readonly cpus: number,
  ) {}

  async read(scope?: Scope): Promise<FamilyRead> {
    const selected = [...this.sources.values()].filter((source) => inScope(scope, source.ref.namespace));
    const reads = (await Promise.all(selected.map(async (source) => ({ source, entries: await this.reader(source) })))).filter(
      (r): r is SourceRead => r.entries !== undefined,
    );
    const cpus = this.cpus;
    const base = (ref: ResourceRef) => ({ namespace: ref.namespace, ebpfmap: ref.name });
    return {
      *lines() {
        for (const { source, entries } of reads) yield* planText(entries, source.plan, cpus, base(source.ref));
      },
      *bytes() {
        for (const { source, entries } of reads) yield* planBytes(entries, source.plan, cpus, base(source.ref));
      },
      *rows(): Generator<Row[]> {
        for (const { source, entries } of reads) yield* planRows(entries, source.plan, cpus, base(source.ref));
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

  constructor(
    private readonly registry: MetricRegistry,
    private readonly metrics: MapReadMetrics,
  ) {}

  /** Starts serving a resource's map; throws EOP_ERR_METRIC_CONFLICT on a clash. */
  add(source: MapSource): void {
    const { config } = source.plan;
    const existing = this.families.get(config.name);
    if (existing) {
      if (existing.type !== config.type || existing.help !== config.help) {
        const other = [...existing.sources.values()][0]!.ref;
        throw operatorError(
          "EOP_ERR_METRIC_CONFLICT",
          `metric "${config.name}" of EbpfMap "${refKey(source.ref)}" is already served by EbpfMap "${refKey(other)}" as a ${existing.type} with help "${existing.help}"; use the same type and help, or another spec.name`,
        );
      }
      existing.sources.set(refKey(source.ref), source);
      return;
    }
    if (this.registry.has(config.name)) {
      throw operatorError("EOP_ERR_METRIC_CONFLICT", `metric name "${config.name}" of EbpfMap "${refKey(source.ref)}" is reserved by the agent`);
    }
    const family = new MapFamily(config.name, config.help, config.type, (s) => this.readSource(s), this.cpus);
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
