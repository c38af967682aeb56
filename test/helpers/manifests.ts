/** Builders of EbpfMap manifests for tests. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./agent-process.js";

export function example(name: string): string {
  return readFileSync(join(repoRoot, "examples", name), "utf8");
}

/** A tracepoint counter on execve, with the name, namespace and C body given. */
export function tracepointManifest(options: {
  name: string;
  namespace?: string;
  metric?: string;
  type?: string;
  target?: string;
  program?: string;
  map?: string;
  code?: string;
  prometheusType?: string;
  help?: string;
}): string {
  const code = options.code ?? COUNTER_CODE;
  return `apiVersion: observability.cloud/v1
kind: EbpfMap
metadata:
  name: ${options.name}
${options.namespace ? `  namespace: ${options.namespace}\n` : ""}spec:
  name: ${options.metric ?? "test-counter"}
  type: ${options.type ?? "tracepoint"}
  target: ${options.target ?? "syscalls/sys_enter_execve"}
  program: ${options.program ?? "count_execve"}
  map: ${options.map ?? "execve_count"}
  prometheusType: ${options.prometheusType ?? "counter"}
  help: "${options.help ?? "test counter"}"
  code: |
${code
  .split("\n")
  .map((line) => `    ${line}`)
  .join("\n")}
`;
}

export const COUNTER_CODE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u64);
} execve_count SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_execve")
int count_execve(void *ctx) {
  u32 key = 0;
  u64 *count = bpf_map_lookup_elem(&execve_count, &key);
  if (count)
    __sync_fetch_and_add(count, 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";`;
