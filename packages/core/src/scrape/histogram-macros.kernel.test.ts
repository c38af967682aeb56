/**
 * bpf/include/ebpf-operator/histogram.h against the collector's bucket semantics: the bucket
 * functions compiled natively over edge values, then the macros compiled with the project's
 * compiler, loaded, triggered through a real tracepoint, and read back through the collector.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BpfObject, possibleCpus } from "@ebpf-operator/libbpf";
import { afterAll, describe, expect, it } from "vitest";
import { requireKernelCapabilities } from "../../../../test/helpers/kernel.js";
import { BpfCompiler } from "../compiler/index.js";
import { DecoderRegistry } from "../decoders/registry.js";
import { ensureTracefs } from "../kernel/mounts.js";
import { createLogger } from "../logger.js";
import { upperBound } from "../plan/histogram.js";
import type { HistogramSpec } from "../api/metrics-schema.js";
import type { MetricConfig } from "../plan/metric-config.js";
import { buildMetricPlan } from "../plan/metric-plan.js";
import { planRowsAll } from "./plan-rows.js";

requireKernelCapabilities();

const includeDir = new URL("../../../../bpf/include", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "eop-hist-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const EDGE_VALUES = [
  0n,
  1n,
  2n,
  3n,
  4n,
  5n,
  7n,
  8n,
  9n,
  10n,
  11n,
  20n,
  21n,
  1023n,
  1024n,
  1025n,
  2n ** 32n - 1n,
  2n ** 32n,
  2n ** 32n + 1n,
  2n ** 63n,
  2n ** 63n + 1n,
  2n ** 64n - 1n,
];

describe("histogram-buckets.h compiled natively", () => {
  const source = join(work, "buckets.c");
  writeFileSync(
    source,
    `#include <stdio.h>
#include <stdlib.h>
#include <ebpf-operator/prelude.h>
#include <ebpf-operator/histogram-buckets.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    u64 v = strtoull(argv[i], 0, 10);
    printf("%u %u\\n", eop_bucket_log2(v, 64), eop_bucket_linear(v, 10, 5));
  }
  return 0;
}
`,
  );
  const binary = join(work, "buckets");
  execFileSync("clang", ["-O2", "-I", includeDir, source, "-o", binary]);
  const lines = execFileSync(binary, EDGE_VALUES.map(String), { encoding: "utf8" }).trim().split("\n");
  const results = EDGE_VALUES.map((v, i) => [v, ...lines[i]!.split(" ").map(Number)] as [bigint, number, number]);

  it.each(results)("puts %s in the exp2 bucket whose bound is the next power of two (%i)", (value, log2) => {
    // The bucket's bound holds the value; the bucket below does not.
    expect(BigInt(upperBound("exp2", log2, 1)) >= value).toBe(true);
    if (log2 > 0) expect(BigInt(upperBound("exp2", log2 - 1, 1)) < value).toBe(true);
  });

  it.each(results)("puts %s in the linear bucket (step 10, max 5) whose bound holds it", (value, _log2, linear) => {
    if (value > 50n) {
      expect(linear).toBe(7); // overflow: max + 2
      return;
    }
    expect(BigInt(upperBound("linear", linear, 10)) >= value).toBe(true);
    if (linear > 0) expect(BigInt(upperBound("linear", linear - 1, 10)) < value).toBe(true);
  });
});

const MAGIC_FD = 987_654;
const PROGRAM = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#define EOP_HIST_LOG2_MAX 20
#include <ebpf-operator/histogram.h>

struct write_enter { u64 common; u64 nr; u64 fd; u64 buf; u64 count; };
struct hist_key { u32 fd; u32 bucket; };

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 64);
  __type(key, struct hist_key);
  __type(value, u64);
} log2_sizes SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, struct hist_key);
  __type(value, u64);
} linear_sizes SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_write")
int on_write(struct write_enter *ctx) {
  struct hist_key key = { .fd = (u32)ctx->fd };
  if (ctx->fd != ${MAGIC_FD})
    return 0;
  EOP_HIST_LOG2_INC(log2_sizes, key, ctx->count);
  EOP_HIST_LINEAR_INC(linear_sizes, key, ctx->count, 100, 10);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

describe("EOP_HIST_LOG2_INC and EOP_HIST_LINEAR_INC in the kernel", () => {
  it("count writes of known sizes into the buckets the collector reads back", async () => {
    await ensureTracefs();
    const compiler = new BpfCompiler({ cacheDir: join(tmpdir(), "eop-test-compile-cache"), includeDir, logger: createLogger({ level: "silent" }) });
    const compiled = await compiler.compile({ source: PROGRAM, label: "histogram-macros test" });
    using object = BpfObject.open({ path: compiled.objectPath });
    object.load();
    using program = object.program("on_write");
    using link = program.attachTracepoint("syscalls", "sys_enter_write");
    expect(link).toBeDefined();

    const sizes = [1, 2, 3, 4, 5, 100, 101, 1000, 1001, 4096];
    const buffer = Buffer.alloc(8192);
    for (const size of sizes) expect(() => writeSync(MAGIC_FD, buffer, 0, size)).toThrow(/EBADF/);

    const ref = { namespace: "test", name: "hist" };
    const base = { namespace: "test", ebpfmap: "hist" };
    const decoders = new DecoderRegistry();
    const config = (name: string, map: string, histogram: HistogramSpec): MetricConfig => ({
      name,
      help: "h",
      type: "histogram",
      map,
      field: "spec.metrics[0]",
      spec: { name, map, type: "histogram", histogram },
      flat: false,
    });

    using log2Map = object.map("log2_sizes");
    const log2Plan = buildMetricPlan(config("write_bytes", "log2_sizes", { bucketType: "exp2", bucketMin: 0, bucketMax: 20 }), log2Map, decoders, ref);
    const log2 = planRowsAll(await log2Map.readAll(), log2Plan, possibleCpus(), base);
    const bucket = (samples: typeof log2, le: string) => samples.find((s) => s.name.endsWith("_bucket") && s.labels.le === le)?.value;
    // Labels from BTF: fd is the only member besides the bucket.
    expect(log2[0]!.labels.fd).toBe(String(MAGIC_FD));
    expect([1, 2, 4, 8, 64, 128, 1024, 2048, 4096, 8192].map((le) => bucket(log2, String(le)))).toEqual([1, 2, 4, 5, 5, 7, 9, 9, 10, 10]);
    expect(bucket(log2, "+Inf")).toBe(10);
    expect(log2.find((s) => s.name === "write_bytes_sum")?.value).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(log2.find((s) => s.name === "write_bytes_count")?.value).toBe(10);

    using linearMap = object.map("linear_sizes");
    const linearPlan = buildMetricPlan(
      config("write_linear", "linear_sizes", { bucketType: "linear", bucketMin: 0, bucketMax: 10, bucketMultiplier: 100 }),
      linearMap,
      decoders,
      ref,
    );
    const linear = planRowsAll(await linearMap.readAll(), linearPlan, possibleCpus(), base);
    expect(["0", "100", "200", "1000", "+Inf"].map((le) => bucket(linear, le))).toEqual([0, 6, 7, 8, 10]);
    expect(linear.find((s) => s.name === "write_linear_sum")?.value).toBe(sizes.reduce((a, b) => a + b, 0));
  });
});
