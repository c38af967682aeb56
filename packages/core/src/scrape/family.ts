/**
 * The one shape every consumer of metrics reads: `/metrics` writes a family's text, remote-write
 * and series caps take its rows, a tenant's view reads only that tenant's part. A family is read
 * once per scrape (`read`: the eBPF families read their maps there); what the read returns can
 * then be rendered as text, or walked as rows, as often as needed, in bounded steps so a caller
 * can yield to the event loop between them.
 */
import type { MetricKind } from "../api/metric-names.js";

export type { MetricKind };

/** Which tenants a read is for. Absent: everything. */
export interface Scope {
  /** Only the series of resources in these namespaces (agent-wide series are left out). */
  readonly namespaces?: ReadonlySet<string>;
}

/** One sample: what remote-write sends and what a series cap counts. */
export interface Row {
  /** The series name: the family's, or with `_bucket`, `_sum`, `_count` for histograms. */
  readonly name: string;
  /** The namespace of the resource the series belongs to; undefined for agent-wide series. */
  readonly namespace: string | undefined;
  /** Every label, `namespace` included where there is one, in exposition order. */
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One scrape's values of a family. */
export interface FamilyRead {
  /**
   * The sample lines (each ending in "\n", no HELP/TYPE) in pieces. Each step does a bounded
   * amount of work; a piece may be empty.
   */
  lines(): Iterable<string>;
  /** The same samples as rows, in batches; each step bounded, a batch may be empty. */
  rows(): Iterable<readonly Row[]>;
  /**
   * The same text as `lines()`, as UTF-8 bytes (whole lines per piece; an empty piece is a step
   * boundary). Optional: families without it are written from `lines()`.
   */
  bytes?(): Iterable<Uint8Array>;
  /**
   * The consumer is done with this read: memory behind it (the map buffers an eBPF family reads
   * into) may be reused by the next read; walking it afterwards is not allowed. Optional, and
   * idempotent; a read never released costs a fresh allocation on the next read, nothing more.
   */
  release?(): void;
}

export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  /** `counter`, `gauge`, `histogram` (or `summary`, for prom-client's). */
  readonly type: MetricKind | "summary";
  /** Takes this scrape's values; a scoped read touches only the scope's sources. */
  read(scope?: Scope): Promise<FamilyRead>;
}

export function inScope(scope: Scope | undefined, namespace: string | undefined): boolean {
  return scope?.namespaces === undefined || (namespace !== undefined && scope.namespaces.has(namespace));
}
