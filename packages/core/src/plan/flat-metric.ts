/**
 * The seed's flat mapping: one map, one metric. Each entry's value (summed over CPUs for
 * per-CPU maps) is one sample. A map whose only key is 0 (the usual single counter) gives one
 * sample without a `key` label; any other key becomes a `key` label.
 */
import type { MapEntries, MapInfo } from "@ebpf-operator/libbpf";
import type { ResourceRef } from "../api/manifest.js";
import { metricNameFor } from "../api/metric-names.js";
import type { EbpfMapSpec, PrometheusType } from "../api/schema.js";
import { operatorError } from "../errors.js";
import type { LineWriter } from "../scrape/exposition.js";
import { INTEGER_SIZES, isZero, keyLabel, readValue } from "../scrape/map-values.js";
import { STEP_ROWS } from "../scrape/plan-rows.js";

export interface FlatMetricConfig {
  /** The served metric name (`syscall_counter_total`). */
  name: string;
  help: string;
  type: PrometheusType;
  map: string;
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The flat metric of a spec that has `name` and `map`. */
export function flatMetricConfig(spec: Omit<EbpfMapSpec, "name" | "map"> & { name: string; map: string }): FlatMetricConfig {
  const type = spec.prometheusType ?? "counter";
  return {
    name: metricNameFor(spec.name, type),
    help: spec.help ?? `eBPF map ${spec.map} of ${spec.type} program ${spec.program}`,
    type,
    map: spec.map,
  };
}

/** Throws when the map's values cannot be exported as flat samples. */
export function checkFlatMap(info: MapInfo, config: Pick<FlatMetricConfig, "map">, ref: ResourceRef): void {
  if (!INTEGER_SIZES.has(info.valueSize)) {
    throw operatorError(
      "EOP_ERR_MAP_VALUE_UNSUPPORTED",
      `map "${config.map}" of EbpfMap "${ref.namespace}/${ref.name}" has ${info.valueSize}-byte values; the flat spec exports 1-, 2-, 4- or 8-byte integers (a u64 counter, say)`,
    );
  }
}

export function flatSamples(
  entries: MapEntries,
  info: Pick<MapInfo, "valueSize" | "maxEntries">,
  perCpu: boolean,
  cpus: number,
  baseLabels: Record<string, string>,
): Sample[] {
  const samples: Sample[] = [];
  const singleZeroKey = info.maxEntries === 1 || (entries.count === 1 && isZero(entries.keys, 0, entries.keySize));
  for (let i = 0; i < entries.count; i++) {
    const value = readValue(entries.values, i * entries.valueStride, info.valueSize, perCpu, cpus);
    const labels = singleZeroKey ? baseLabels : { ...baseLabels, key: keyLabel(entries.keys, i * entries.keySize, entries.keySize) };
    samples.push({ labels, value });
  }
  return samples;
}

/**
 * The same samples rendered into `writer` as exposition lines, yielding every STEP_ROWS rows.
 * `baseLabels` is the rendered text of the labels every series carries (exposition.labelPairs).
 * Key labels are decimal or hex digits: nothing to escape.
 */
export function* flatLines(
  entries: MapEntries,
  info: Pick<MapInfo, "valueSize" | "maxEntries">,
  perCpu: boolean,
  cpus: number,
  name: string,
  baseLabels: string,
  writer: LineWriter,
): Generator<void, void, undefined> {
  const singleZeroKey = info.maxEntries === 1 || (entries.count === 1 && isZero(entries.keys, 0, entries.keySize));
  const keyPrefix = baseLabels === "" ? 'key="' : `${baseLabels},key="`;
  for (let i = 0; i < entries.count; i++) {
    if (i % STEP_ROWS === STEP_ROWS - 1) yield;
    const value = readValue(entries.values, i * entries.valueStride, info.valueSize, perCpu, cpus);
    writer.add(name, singleZeroKey ? baseLabels : `${keyPrefix}${keyLabel(entries.keys, i * entries.keySize, entries.keySize)}"`, value);
  }
}
