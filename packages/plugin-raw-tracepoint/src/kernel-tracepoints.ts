/**
 * Which raw tracepoints this kernel has. Every tracepoint (with or without a tracefs event)
 * has a `btf_trace_<name>` typedef in the kernel's BTF (vmlinux or its module's), which is also
 * what a tp_btf program is loaded against; without kernel BTF, raw_tp falls back to the tracefs
 * event directories (`events/<category>/<name>`), which miss the event-less tracepoints.
 */
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { KERNEL_BTF_DIR, kernelBtfTypeNames } from "@ebpf-operator/libbpf";

export const BTF_TRACE_PREFIX = "btf_trace_";
const CACHE_MS = 60_000;

let cached: { at: number; names: Set<string> } | undefined;

export function kernelHasBtf(dir = KERNEL_BTF_DIR): boolean {
  return existsSync(join(dir, "vmlinux"));
}

/** Tracepoint names from the kernel's BTF, cached for a minute (modules may come and go). */
export function btfTracepoints(): Set<string> {
  const now = Date.now();
  if (cached && now - cached.at < CACHE_MS) return cached.names;
  const names = new Set(kernelBtfTypeNames({ kind: "typedef", prefix: BTF_TRACE_PREFIX }).map((n) => n.slice(BTF_TRACE_PREFIX.length)));
  cached = { at: now, names };
  return names;
}

/** Tracepoint names from tracefs (`events/*\/<name>`): for kernels without BTF. */
export async function tracefsTracepoints(tracefs: string): Promise<Set<string>> {
  const events = join(tracefs, "events");
  const names = new Set<string>();
  for (const category of await readdir(events, { withFileTypes: true }).catch(() => [])) {
    if (!category.isDirectory()) continue;
    for (const event of await readdir(join(events, category.name), { withFileTypes: true }).catch(() => [])) {
      if (event.isDirectory()) names.add(event.name);
    }
  }
  return names;
}
