/**
 * Map reads at scrape time on real maps, around the read off the JS thread (a map of
 * OFF_THREAD_MIN_ENTRIES or more is read on the libuv thread pool): a resource removed while its
 * map is being read (the agent closes the map as it unloads), and a read that fails, must leave
 * the scrape and the other resources' series whole.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BpfObject, OFF_THREAD_MIN_ENTRIES, type BpfMap } from "@ebpf-operator/libbpf";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireKernelCapabilities } from "../../../../test/helpers/kernel.js";
import { BpfCompiler } from "../compiler/index.js";
import { DecoderRegistry } from "../decoders/registry.js";
import { createLogger } from "../logger.js";
import { createAgentMetrics } from "../observability/agent-metrics.js";
import type { MetricConfig } from "../plan/metric-config.js";
import { buildMetricPlan } from "../plan/metric-plan.js";
import { MapCollector } from "./map-family.js";
import { MetricRegistry } from "./registry.js";
import { registryText } from "./registry-text.js";

requireKernelCapabilities();

const includeDir = new URL("../../../../bpf/include", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), `eop-map-read-${process.pid}-`));
/** Entries in the large map, whose maxEntries (OFF_THREAD_MIN_ENTRIES) has it read off the JS thread. */
const BIG = 50_000;
const SMALL = 10;

const PROGRAM = `
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, ${OFF_THREAD_MIN_ENTRIES});
  __type(key, __u32);
  __type(value, __u64);
} big SEC(".maps");
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16);
  __type(key, __u32);
  __type(value, __u64);
} small SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getpid")
int count(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`;

describe("map reads at scrape time", () => {
  let object: BpfObject;
  let objectPath = "";
  beforeAll(async () => {
    const compiler = new BpfCompiler({ cacheDir: join(work, "cache"), includeDir, logger: createLogger({ level: "silent" }) });
    objectPath = (await compiler.compile({ source: PROGRAM, label: "map-read test" })).objectPath;
    object = BpfObject.open({ path: objectPath });
    object.load();
    const key = Buffer.alloc(4);
    const value = Buffer.alloc(8);
    using big = object.map("big");
    using small = object.map("small");
    for (let k = 0; k < BIG; k++) {
      key.writeUInt32LE(k);
      value.writeBigUInt64LE(BigInt(k));
      big.update(key, value);
      if (k < SMALL) small.update(key, value);
    }
  });
  afterAll(() => {
    object?.close();
    rmSync(work, { recursive: true, force: true });
  });

  /** A collector serving `big` as resource A and `small` as resource B, each from its own map handle (as the loader's). */
  function serve(): { collector: MapCollector; families: MetricRegistry; prom: Registry; maps: { big: BpfMap; small: BpfMap }; a: Ref; b: Ref } {
    const prom = new Registry();
    const metrics = createAgentMetrics(prom);
    const families = new MetricRegistry(prom);
    const collector = new MapCollector(families, metrics);
    const a = { namespace: `eop-read-${process.pid}`, name: "big" };
    const b = { namespace: `eop-read-${process.pid}`, name: "small" };
    const maps = { big: object.map("big"), small: object.map("small") };
    const logger = createLogger({ level: "silent" });
    for (const [ref, map] of [
      [a, maps.big],
      [b, maps.small],
    ] as const) {
      const config: MetricConfig = {
        name: `entries_${ref.name}`,
        help: "entries",
        type: "gauge",
        map: ref.name,
        field: "spec.metrics[0]",
        spec: { name: `entries_${ref.name}`, map: ref.name },
        flat: false,
      };
      const view = { info: map.info, isPerCpu: false, describeKey: () => map.describeKey(), describeValue: () => map.describeValue() };
      collector.add({ ref, map, plan: buildMetricPlan(config, view, new DecoderRegistry(), ref), logger });
    }
    return { collector, families, prom, maps, a, b };
  }
  type Ref = { namespace: string; name: string };

  const series = (text: string, name: string) => text.split("\n").filter((l) => l.startsWith(`${name}{`));

  it("finishes a scrape whose resource is removed and its map closed while the map is read, then serves the others", async () => {
    const { collector, families, maps, a } = serve();
    try {
      const scrape = registryText(families);
      // As the agent unloads a resource: out of the collector, then its map closed, while the read runs.
      collector.remove(a);
      maps.big.close();
      const text = await scrape;
      // The read that was under way completes with the map as it was; the other resource is whole.
      expect(series(text, "entries_big")).toHaveLength(BIG);
      expect(series(text, "entries_big")).toContain(`entries_big{namespace="${a.namespace}",ebpfmap="big",key="${BIG - 1}"} ${BIG - 1}`);
      expect(series(text, "entries_small")).toHaveLength(SMALL);
      const next = await registryText(families);
      expect(series(next, "entries_big")).toHaveLength(0);
      expect(series(next, "entries_small")).toHaveLength(SMALL);
    } finally {
      maps.big.close();
      maps.small.close();
    }
  });

  it("serves the other resources when a map read fails, and counts the failure", async () => {
    const { families, prom, maps, a } = serve();
    try {
      // The map's handle closed under the collector: its read fails (ClosedError), the scrape goes on.
      maps.big.close();
      const text = await registryText(families);
      expect(series(text, "entries_big")).toHaveLength(0);
      expect(series(text, "entries_small")).toHaveLength(SMALL);
      const errors = (await prom.getSingleMetric("ebpf_operator_agent_map_read_errors_total")!.get()).values;
      expect(errors).toEqual([{ labels: { namespace: a.namespace, ebpfmap: "big", map: "big" }, value: 1 }]);
    } finally {
      maps.small.close();
    }
  });

  it("serves every entry of a large map read off the JS thread while another scrape of it runs", async () => {
    const { families, maps } = serve();
    try {
      const [one, two] = await Promise.all([registryText(families), registryText(families)]);
      for (const text of [one, two]) {
        expect(series(text, "entries_big")).toHaveLength(BIG);
        expect(series(text, "entries_small")).toHaveLength(SMALL);
      }
      // Two reads at once fill two sets of buffers: the same rows in both.
      expect(series(one, "entries_big")).toEqual(series(two, "entries_big"));
    } finally {
      maps.big.close();
      maps.small.close();
    }
  });
});
