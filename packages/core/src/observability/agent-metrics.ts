/**
 * The agent's own metrics (prom-client), served beside the eBPF metrics on `/metrics`.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface AgentMetrics {
  resources: Gauge<"phase">;
  attached: Gauge<"namespace" | "ebpfmap">;
  attachFailures: Counter<"namespace" | "ebpfmap" | "code">;
  scrapeDuration: Histogram;
  seriesDropped: Counter<"namespace" | "ebpfmap">;
  mapReadErrors: Counter<"namespace" | "ebpfmap" | "map">;
  mapReadDuration: Histogram<"method">;
  plugins: Gauge<"plugin" | "version" | "loaded">;
  mapEntries: Gauge<"namespace" | "ebpfmap" | "map">;
  mapMaxEntries: Gauge<"namespace" | "ebpfmap" | "map">;
}

export function createAgentMetrics(registry: Registry): AgentMetrics {
  const registers = [registry];
  return {
    resources: new Gauge({ name: "ebpf_operator_agent_resources", help: "EbpfMap resources known to the agent, by phase.", labelNames: ["phase"], registers }),
    attached: new Gauge({
      name: "ebpf_operator_agent_attached",
      help: "1 when the resource's program is loaded and attached, 0 when it is not.",
      labelNames: ["namespace", "ebpfmap"],
      registers,
    }),
    attachFailures: new Counter({
      name: "ebpf_operator_agent_attach_failures_total",
      help: "Failed attempts to compile, load or attach a resource, by error code.",
      labelNames: ["namespace", "ebpfmap", "code"],
      registers,
    }),
    scrapeDuration: new Histogram({
      name: "ebpf_operator_agent_scrape_duration_seconds",
      help: "Time to read every exported map (and the other metric families) for one scrape; decoding and rendering follow as the response is written.",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    seriesDropped: new Counter({
      name: "ebpf_operator_agent_series_dropped_total",
      help: "Label sets a resource's metrics read over its series cap (the tenancy policy's quotas.seriesPerEbpfMap), summed into the overflow=\"true\" series instead, per read.",
      labelNames: ["namespace", "ebpfmap"],
      registers,
    }),
    mapReadErrors: new Counter({
      name: "ebpf_operator_agent_map_read_errors_total",
      help: "Map reads that failed at scrape time; the scrape still succeeds without those samples.",
      labelNames: ["namespace", "ebpfmap", "map"],
      registers,
    }),
    mapReadDuration: new Histogram({
      name: "ebpf_operator_agent_map_read_duration_seconds",
      help: "Time to read one map at scrape time, by read method (batch or iterate).",
      labelNames: ["method"],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
      registers,
    }),
    plugins: new Gauge({
      name: "ebpf_operator_agent_plugins",
      help: 'Configured program-type plugins; loaded="false" when the plugin failed to load.',
      labelNames: ["plugin", "version", "loaded"],
      registers,
    }),
    // Counted from each scrape's read of the exported maps (no extra syscalls). Arrays always
    // hold max_entries; hash and LRU maps fill up, and a full hash map drops new keys.
    mapEntries: new Gauge({
      name: "ebpf_operator_map_entries",
      help: "Entries in an exported BPF map at the last scrape; compare with ebpf_operator_map_max_entries.",
      labelNames: ["namespace", "ebpfmap", "map"],
      registers,
    }),
    mapMaxEntries: new Gauge({
      name: "ebpf_operator_map_max_entries",
      help: "The max_entries of an exported BPF map.",
      labelNames: ["namespace", "ebpfmap", "map"],
      registers,
    }),
  };
}
