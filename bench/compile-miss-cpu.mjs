// Per-miss CPU and wall of BpfCompiler, all processes counted: this process and every child it
// spawns (prlimit, bwrap, the sandbox's PID-namespaced shell and clangs) run in a cpuacct cgroup
// of their own, whose usage is read around each compile. One compile at a time, distinct sources
// (every one a miss), the program of the operator bench (<linux/bpf.h> and the prelude).
//
//   flock /tmp/bench.lock node bench/compile-miss-cpu.mjs <core dist/index.js> [label] [compiles] [sandbox]
//
// Passing another build's dist (e.g. main's, built into .cache/) A/Bs two versions in one lock hold.
// cgroup v1 (cpuacct) as on the development machine, or v2 (cpu.stat usage_usec).
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

const [distArg, label = "compiler", countArg = "25", sandbox = "required"] = process.argv.slice(2);
if (!distArg) {
  console.error("usage: node bench/compile-miss-cpu.mjs <core dist/index.js> [label] [compiles] [sandbox]");
  process.exit(2);
}
const { BpfCompiler } = await import(pathToFileURL(resolve(distArg)).href);
const count = Number(countArg);

const v1 = "/sys/fs/cgroup/cpuacct";
const v2 = "/sys/fs/cgroup";
const name = `eop-bench-compile-${process.pid}`;
let group;
let usageNs;
if (existsSync(join(v1, "cpuacct.usage"))) {
  group = join(v1, name);
  mkdirSync(group);
  writeFileSync(join(group, "cgroup.procs"), String(process.pid));
  usageNs = () => Number(readFileSync(join(group, "cpuacct.usage"), "utf8"));
} else {
  group = join(v2, name);
  mkdirSync(group);
  writeFileSync(join(group, "cgroup.procs"), String(process.pid));
  usageNs = () => Number(/usage_usec (\d+)/.exec(readFileSync(join(group, "cpu.stat"), "utf8"))[1]) * 1000;
}
const parent = existsSync(join(v1, "cpuacct.usage")) ? v1 : v2;

const cacheDir = await mkdtemp(join(tmpdir(), `eop-bench-miss-${process.pid}-`));
// The operator bench's program (test/helpers/manifests.ts COUNTER_CODE), its map renamed per compile.
const source = (i) => `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u64);
} count_${i} SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_execve")
int count_execve(void *ctx) {
  u32 key = 0;
  u64 *count = bpf_map_lookup_elem(&count_${i}, &key);
  if (count)
    __sync_fetch_and_add(count, 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;
const run = Date.now() % 1_000_000;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
try {
  const compiler = new BpfCompiler({ cacheDir, sandbox, concurrency: 1 });
  // Warm-up: the probe, vmlinux.h and the first page-ins are not a miss's cost.
  await compiler.compile({ source: source(`${run}_warm`), label: "bench/warm-up" });
  const cpu = [];
  const wall = [];
  const pre = [];
  const comp = [];
  for (let i = 0; i < count; i++) {
    const before = usageNs();
    const t0 = performance.now();
    const result = await compiler.compile({ source: source(i + (Date.now() % 100_000) * 1000), label: `bench/p${i}` });
    wall.push(performance.now() - t0);
    cpu.push((usageNs() - before) / 1e6);
    if (result.cached) throw new Error("a distinct compile was a cache hit");
    pre.push(result.clangRunsMs.preprocess);
    comp.push(result.clangRunsMs.compile);
  }
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const rssMiB = Math.round(process.memoryUsage().rss / 2 ** 20);
  console.log(
    JSON.stringify({
      label,
      sandbox,
      compiles: count,
      cpuMsMedian: Math.round(median(cpu) * 10) / 10,
      wallMsMedian: Math.round(median(wall) * 10) / 10,
      preprocessMsMedian: median(pre),
      compileMsMedian: median(comp),
      cpuMsRange: [Math.round(Math.min(...cpu)), Math.round(Math.max(...cpu))],
      rssMiB,
      loadAfter: load,
    }),
  );
} finally {
  writeFileSync(join(parent, "cgroup.procs"), String(process.pid));
  rmdirSync(group);
  await rm(cacheDir, { recursive: true, force: true });
}
