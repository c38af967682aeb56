/**
 * What the compiler sandbox costs: one compile (cache miss) and one cache hit, with the sandbox
 * (bubblewrap + seccomp + limits) and without it (`sandbox: "off"`, the baseline, same limits),
 * for the README's quick start (UAPI headers) and a CO-RE program (vmlinux.h, ~3 MB of headers).
 * Each miss uses a fresh cache directory; every measurement is repeated and the median reported,
 * the two modes interleaved so load on the machine hits both alike.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BpfCompiler } from "@ebpf-operator/core";
import { log, machine, quick, stat, writeResult, type Stat } from "./common.js";

const QUICK_START = `#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1); __type(key, u32); __type(value, u64); } execve_count SEC(".maps");
SEC("kprobe/sys_execve")
int count_execve(struct pt_regs *ctx) {
  u32 key = 0; u64 *val, init_val = 1;
  val = bpf_map_lookup_elem(&execve_count, &key);
  if (val) (*val)++; else bpf_map_update_elem(&execve_count, &key, &init_val, BPF_ANY);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

const CORE = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1024); __type(key, u32); __type(value, u64); } by_parent SEC(".maps");
SEC("kprobe/do_nanosleep")
int probe(struct pt_regs *ctx) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
  u64 one = 1;
  bpf_map_update_elem(&by_parent, &ppid, &one, BPF_ANY);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

export interface CompileRow {
  program: string;
  mode: "off" | "sandbox";
  missMs: Stat;
  hitMs: Stat;
}

const runs = quick ? 3 : 7;
const programs: [string, string][] = [
  ["quick start (UAPI headers)", QUICK_START],
  ["CO-RE (vmlinux.h)", CORE],
];
const modes = [
  ["off", "off"],
  ["sandbox", "required"],
] as const;

const base = mkdtempSync(join(tmpdir(), "eop-bench-compile-"));
const samples = new Map<string, { miss: number[]; hit: number[] }>();
try {
  // vmlinux.h generated once, outside the measurements (it is per kernel, not per compile).
  await new BpfCompiler({ cacheDir: join(base, "warm"), sandbox: "off" }).toolchainInfo();
  for (let i = 0; i < runs; i++) {
    for (const [program, source] of programs) {
      for (const [mode, setting] of modes) {
        const cacheDir = join(base, `${mode}-${i}-${program.length}`);
        const compiler = new BpfCompiler({ cacheDir, sandbox: setting });
        await compiler.toolchainInfo(); // set-up (probe, sandbox proof) is per process, not per compile
        const started = performance.now();
        const miss = await compiler.compile({ source: `// run ${i}\n${source}`, label: "bench/compile" });
        const missMs = performance.now() - started;
        const again = performance.now();
        const hit = await compiler.compile({ source: `// run ${i}\n${source}`, label: "bench/compile" });
        const hitMs = performance.now() - again;
        if (miss.cached || !hit.cached) throw new Error(`unexpected cache behaviour: miss.cached=${miss.cached} hit.cached=${hit.cached}`);
        const key = `${program}\0${mode}`;
        const entry = samples.get(key) ?? { miss: [], hit: [] };
        entry.miss.push(missMs);
        entry.hit.push(hitMs);
        samples.set(key, entry);
        rmSync(cacheDir, { recursive: true, force: true });
        log(`compile ${program} ${mode} run ${i + 1}/${runs}: miss ${missMs.toFixed(0)} ms, hit ${hitMs.toFixed(1)} ms`);
      }
    }
  }
} finally {
  rmSync(base, { recursive: true, force: true });
}

const rows: CompileRow[] = [];
for (const [program] of programs) {
  for (const [mode] of modes) {
    const s = samples.get(`${program}\0${mode}`)!;
    rows.push({ program, mode, missMs: stat(s.miss), hitMs: stat(s.hit) });
  }
}
writeResult("compile", { machine: machine(), runs, rows });
log(`wrote bench/results/compile.json`);
