/**
 * The agent's metric families in one place and one order: the agent's own prom-client metrics
 * (adapted, in their registry's order) followed by the families registered here (eBPF maps,
 * computed self-metrics) in registration order. Family names are unique across both.
 *
 * prom-client stays the way the agent counts its own events (Counter, Gauge, Histogram); only
 * its values are taken (`metric.get()`), never its text.
 */
import type { Registry } from "prom-client";
import type { MetricKind } from "../api/metric-names.js";
import { operatorError } from "../errors.js";
import { labelPairs, sampleLine } from "./exposition.js";
import { inScope, type FamilyRead, type MetricFamily, type Row, type Scope } from "./family.js";

/** The content type of the text exposition (what prom-client's registry announces too). */
export const TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** One scrape of every family, in order. */
export interface RegistryRead {
  readonly families: readonly { readonly family: MetricFamily; readonly read: FamilyRead }[];
}

export class MetricRegistry {
  readonly contentType = TEXT_CONTENT_TYPE;
  private readonly own = new Map<string, MetricFamily>();

  /** `prom`: the registry of the process's own prom-client metrics, if any. */
  constructor(private readonly prom?: Registry) {}

  has(name: string): boolean {
    return this.own.has(name) || this.prom?.getSingleMetric(name) !== undefined;
  }

  register(family: MetricFamily): void {
    if (this.has(family.name)) throw operatorError("EOP_ERR_METRIC_CONFLICT", `metric family "${family.name}" is already registered`);
    this.own.set(family.name, family);
  }

  unregister(name: string): void {
    this.own.delete(name);
  }

  families(): MetricFamily[] {
    const adapted = (this.prom?.getMetricsAsArray() ?? []).map((metric) => promClientFamily(metric as unknown as PromClientMetric));
    return [...adapted, ...this.own.values()];
  }

  /**
   * Reads every family (concurrently: map reads run off the JS thread), or those `include`
   * accepts: a family left out is not read at all.
   */
  async read(scope?: Scope, include?: (family: MetricFamily) => boolean): Promise<RegistryRead> {
    const families = include ? this.families().filter(include) : this.families();
    const reads = await Promise.all(families.map((family) => family.read(scope)));
    return { families: families.map((family, i) => ({ family, read: reads[i]! })) };
  }
}

/**
 * Rows computed when read (values owned elsewhere: kernel counters, resource statuses).
 * `compute` gets the scope, so a tenant's read computes only that tenant's rows.
 */
export class ComputedFamily implements MetricFamily {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricKind,
    private readonly compute: (scope?: Scope) => Row[],
  ) {}

  async read(scope?: Scope): Promise<FamilyRead> {
    return rowsRead(this.compute(scope).filter((row) => inScope(scope, row.namespace)));
  }
}

/** A family read over rows already in memory (small families). */
export function rowsRead(rows: readonly Row[]): FamilyRead {
  return {
    *lines() {
      let text = "";
      for (const row of rows) text += sampleLine(row.name, labelPairs(row.labels), row.value);
      yield text;
    },
    *rows() {
      yield rows;
    },
  };
}

/**
 * What prom-client's metric objects give (`get()`), as far as it is used here; also the shape of
 * one entry of `Registry.getMetricsAsJSON()` once `get` returns its `values` (another process's
 * metrics: the operator serves the compile server's this way).
 */
export interface PromClientMetric {
  name: string;
  help: string;
  type: string;
  get():
    | Promise<{ values: { labels: Record<string, string | number>; value: number; metricName?: string }[] }>
    | { values: { labels: Record<string, string | number>; value: number; metricName?: string }[] };
}

export function promClientFamily(metric: PromClientMetric): MetricFamily {
  return {
    name: metric.name,
    help: metric.help,
    type: metric.type as MetricKind | "summary",
    read: async (scope) => {
      const { values } = await metric.get();
      const rows: Row[] = [];
      for (const value of values) {
        const labels: Record<string, string> = {};
        for (const name in value.labels) labels[name] = String(value.labels[name]);
        const namespace = labels.namespace;
        if (!inScope(scope, namespace)) continue;
        rows.push({ name: value.metricName ?? metric.name, namespace, labels, value: value.value });
      }
      return rowsRead(rows);
    },
  };
}
