/**
 * The compile server's metrics on the operator's /metrics. The compiler container holds no
 * credential to review a scraper's token with, so it serves nothing over the network; the
 * operator reads its families over the shared Unix socket at each scrape and serves them behind
 * its own TokenReview/SubjectAccessReview check (docs/architecture.md, "Compile metrics").
 */
import { promClientFamily, type Logger, type MetricRegistry, type RegistryRead, type Scope } from "@ebpf-operator/core";
import type { Gauge } from "prom-client";
import type { MetricsResponse } from "./protocol.js";

export interface CompilerMetricsSource {
  metrics(): Promise<MetricsResponse>;
}

/**
 * A `metrics` handler: the operator's own families, then the compile server's (those whose names
 * the operator does not use itself). `up` is set to 1 when the compile server answered this
 * scrape, 0 when not (its families are then missing from this scrape, the operator's are not).
 */
export function withCompilerMetrics(
  own: MetricRegistry,
  compiler: CompilerMetricsSource,
  up: Gauge,
  logger: Pick<Logger, "warn" | "info">,
): (scope?: Scope) => Promise<RegistryRead> {
  let reachable = true;
  return async (scope) => {
    let remote: MetricsResponse = [];
    try {
      remote = await compiler.metrics();
      up.set(1);
      if (!reachable) logger.info({}, "the compile server's metrics are back");
      reachable = true;
    } catch (error) {
      up.set(0);
      // Once per outage, not once per scrape.
      if (reachable) logger.warn({ error: error instanceof Error ? error.message : String(error) }, "the compile server's metrics are unavailable");
      reachable = false;
    }
    const read = await own.read(scope);
    const extra = remote
      .filter((family) => !own.has(family.name))
      .map((family) => promClientFamily({ name: family.name, help: family.help, type: family.type, get: () => ({ values: family.values }) }));
    const reads = await Promise.all(extra.map((family) => family.read(scope)));
    return { families: [...read.families, ...extra.map((family, i) => ({ family, read: reads[i]! }))] };
  };
}
