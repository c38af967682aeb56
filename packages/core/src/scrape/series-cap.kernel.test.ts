/**
 * The series cap where the data is: a real hash map in the kernel holding more label sets than
 * the resource's cap, read through the collector as a scrape reads it. The scrape serves the cap
 * (the namespace's budget shared by its EbpfMaps on the node) plus one overflow series, and the
 * agent's counter says how many label sets it summed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BpfObject } from "@ebpf-operator/libbpf";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
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
const work = mkdtempSync(join(tmpdir(), `eop-series-cap-${process.pid}-`));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PROGRAM = `
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct key { __u32 pid; };
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10000);
  __type(key, struct key);
  __type(value, __u64);
} per_pid SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getpid")
int count(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`;

describe("series cap on a real map", () => {
  it("serves at most the cap plus one overflow series, and counts what it summed", async () => {
    const compiler = new BpfCompiler({ cacheDir: join(work, "cache"), includeDir, logger: createLogger({ level: "silent" }) });
    const compiled = await compiler.compile({ source: PROGRAM, label: "series-cap test" });
    using object = BpfObject.open({ path: compiled.objectPath });
    object.load();
    using map = object.map("per_pid");
    // A tenant's 5000 distinct keys, each counting 2.
    const key = Buffer.alloc(4);
    const value = Buffer.alloc(8);
    value.writeBigUInt64LE(2n);
    for (let pid = 0; pid < 5000; pid++) {
      key.writeUInt32LE(pid);
      map.update(key, value);
    }

    const prom = new Registry();
    const metrics = createAgentMetrics(prom);
    const families = new MetricRegistry(prom);
    const collector = new MapCollector(families, metrics);
    const ref = { namespace: `eop-cap-${process.pid}`, name: "per-pid" };
    const sibling = { namespace: ref.namespace, name: "per-pid-2" };
    const other = { namespace: `eop-cap-other-${process.pid}`, name: "per-pid" };
    const config: MetricConfig = {
      name: "per_pid_total",
      help: "calls per pid",
      type: "counter",
      map: "per_pid",
      field: "spec.metrics[0]",
      spec: { name: "per_pid", map: "per_pid" },
      flat: false,
    };
    const view = { info: map.info, isPerCpu: false, describeKey: () => map.describeKey(), describeValue: () => map.describeValue() };
    const logger = createLogger({ level: "silent" });
    for (const r of [ref, sibling, other]) collector.add({ ref: r, map, plan: buildMetricPlan(config, view, new DecoderRegistry(), r), logger });
    // The first namespace's policy: 1000 series per EbpfMap, 1500 for the namespace, shared by
    // its two EbpfMaps (750 each). The other namespace's has room for every key.
    collector.setSeriesLimit((r) => (r.namespace === ref.namespace ? { perEbpfMap: 1000, perNamespace: 1500 } : { perEbpfMap: 10_000 }));

    const text = await registryText(families);
    const lines = (r: { namespace: string; name: string }) =>
      text.split("\n").filter((l) => l.startsWith(`per_pid_total{namespace="${r.namespace}",ebpfmap="${r.name}"`));
    for (const r of [ref, sibling]) {
      const capped = lines(r);
      expect(capped).toHaveLength(751);
      const overflow = capped.filter((l) => l.includes('overflow="true"'));
      // The overflow keeps the total: 4250 keys counting 2 each.
      expect(overflow).toEqual([`per_pid_total{namespace="${r.namespace}",ebpfmap="${r.name}",overflow="true"} 8500`]);
    }
    // The other tenant's series are whole.
    expect(lines(other)).toHaveLength(5000);
    expect(lines(other).some((l) => l.includes("overflow"))).toBe(false);
    const dropped = (await prom.getSingleMetric("ebpf_operator_agent_series_dropped_total")!.get()).values;
    expect(dropped).toEqual([
      { labels: { namespace: ref.namespace, ebpfmap: "per-pid" }, value: 4250 },
      { labels: { namespace: ref.namespace, ebpfmap: "per-pid-2" }, value: 4250 },
    ]);

    // Without the sibling, the EbpfMap's own cap is the smaller one again.
    collector.remove(sibling);
    const after = await registryText(families);
    expect(after.split("\n").filter((l) => l.startsWith(`per_pid_total{namespace="${ref.namespace}"`))).toHaveLength(1001);
  });
});
