/**
 * The check that runs once a program's maps exist and before anything is attached: every metric
 * of the resource names a map of the program, and its key/value types fit (metric-plan.ts). The
 * plans it returns are what the collector serves: built once per load, not again at serve time.
 */
import type { BpfMap } from "@ebpf-operator/libbpf";
import type { ResourceRef } from "../api/manifest.js";
import type { DecoderRegistry } from "../decoders/registry.js";
import { operatorError } from "../errors.js";
import type { MetricConfig } from "./metric-config.js";
import { buildMetricPlan, type MapView, type MetricPlan } from "./metric-plan.js";

/** What planning and serving need of a map: its types and its reads (BpfMap fits). */
export type ServedMap = MapView & Pick<BpfMap, "readAll">;

export interface PlannedMetric<M extends MapView = ServedMap> {
  map: M;
  plan: MetricPlan;
}

/**
 * Throws the first problem (EOP_ERR_MAP_NOT_FOUND, EOP_ERR_METRIC_INVALID, ...). The maps are
 * the loaded ones, or for `ebpf-agent validate` the object's declarations (agent/check-resource.ts).
 */
export function planMetrics<M extends MapView = ServedMap>(
  configs: readonly MetricConfig[],
  maps: ReadonlyMap<string, M>,
  decoders: DecoderRegistry,
  ref: ResourceRef,
): PlannedMetric<M>[] {
  return configs.map((metric) => {
    const map = maps.get(metric.map);
    if (!map) {
      const field = metric.flat ? "spec.map" : `${metric.field}.map`;
      const names = [...maps.keys()].filter((n) => !n.includes(".")).join(", ") || "none";
      throw operatorError(
        "EOP_ERR_MAP_NOT_FOUND",
        `${field} "${metric.map}" is not a map in the code of EbpfMap "${ref.namespace}/${ref.name}" (maps: ${names})`,
      );
    }
    return { map, plan: buildMetricPlan(metric, map, decoders, ref) };
  });
}
