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
  /** Done with every family's read (FamilyRead.release). Optional and idempotent. */
  release?(): void;
}

/** A registry read whose release() releases every family's read. */
export function registryRead(families: RegistryRead["families"]): RegistryRead {
  let released = false;
  return {
    families,
    release() {
      if (released) return;
      released = true;
      for (const { read } of families) read.release?.();
    },
  };
}

/**
 * Hands one read to several holders (say /metrics and remote-write asking at the same time, or
 * two scrapes of one tenant's view): each gets its own release(), and the read is released when
 * the last holder has released it. Reads are shared per key (the namespace of a tenant's view;
 * none for the whole node): `read(key)` is called at most once while a read of that key is in
 * flight, and a key is forgotten once its read settles.
 */
export function sharedReads<K = void>(read: (key: K) => Promise<RegistryRead>): (key: K) => Promise<RegistryRead> {
  const inFlight = new Map<K, { promise: Promise<RegistryRead>; holders: number }>();
  return (key) => {
    let entry = inFlight.get(key);
    if (!entry) {
      const created = {
        holders: 0,
        // Once settled, new callers start a new read: the holders of this one are all known.
        promise: read(key).finally(() => {
          if (inFlight.get(key) === created) inFlight.delete(key);
        }),
      };
      inFlight.set(key, created);
      entry = created;
    }
    const shared = entry;
    shared.holders++;
    return shared.promise.then((whole) => {
      let mine = false;
      return {
        families: whole.families,
        release() {
          if (mine) return;
          mine = true;
          if (--shared.holders === 0) whole.release?.();
        },
      };
    });
  };
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
    const settled = await Promise.allSettled(families.map((family) => family.read(scope)));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      // Hand back what the other families read before giving up.
      for (const r of settled) if (r.status === "fulfilled") r.value.release?.();
      throw failed.reason;
    }
    return registryRead(families.map((family, i) => ({ family, read: (settled[i] as PromiseFulfilledResult<FamilyRead>).value })));
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
