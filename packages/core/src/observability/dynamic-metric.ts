/**
 * A prom-client metric object whose series are computed when the registry renders (like the
 * collector's eBPF families): for values owned elsewhere (the kernel's run counters, the
 * agent's resource statuses), which prom-client's Counter and Gauge cannot be set to.
 */
import type { Registry } from "prom-client";
import type { PromValue } from "../scrape/plan-rows.js";

export function registerDynamicMetric(registry: Registry, name: string, help: string, type: "counter" | "gauge", values: () => PromValue[]): void {
  const metric = {
    name,
    help,
    type,
    aggregator: "sum" as const,
    get: async () => ({ name, help, type, aggregator: "sum" as const, values: values() }),
    reset: () => undefined,
  };
  // A structural metric object (see collector.ts); the cast is the registry's typing only.
  registry.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
}
