import { readdirSync } from "node:fs";
import { join } from "node:path";
import { native } from "./native.js";
import type { BtfType } from "./types.js";

/**
 * Describes types of a kernel BTF object (`btf__load_from_kernel_by_id`), resolving typedefs and
 * const/volatile/restrict/type_tag modifiers. Internal: the public entry points are
 * `BpfMap.describeKey()` / `describeValue()`.
 */
export function describeBtfTypes(btfId: number, typeIds: number[]): BtfType[] {
  return native().btfDescribe(btfId, typeIds);
}

/** Where the kernel exposes its BTF: `vmlinux` and one split file per module with BTF. */
export const KERNEL_BTF_DIR = "/sys/kernel/btf";

/**
 * Names of the functions (`func`) or typedefs (`typedef`) in a BTF file that start with `prefix`
 * (e.g. `/sys/kernel/btf/vmlinux`). Throws a LibbpfError when the file does not parse.
 */
export function btfTypeNames(path: string, options: { kind: "func" | "typedef"; prefix?: string }): string[] {
  if (typeof path !== "string" || path === "") throw new TypeError("btfTypeNames: expected a path");
  return native().btfNames([path], null, options.kind, options.prefix ?? "");
}

/**
 * Names of the functions or typedefs starting with `prefix` in the running kernel's BTF:
 * vmlinux, then (unless `modules: false`) every loaded module's split BTF. Plugins use it to check
 * an attach point exists (an fentry function, a `btf_trace_<tracepoint>` typedef) before anything
 * is compiled, and to suggest close names. Throws when the kernel has no BTF (`vmlinux` missing:
 * `CONFIG_DEBUG_INFO_BTF` off). Parses a few MB: callers should cache the answer.
 */
export function kernelBtfTypeNames(options: { kind: "func" | "typedef"; prefix?: string; modules?: boolean; dir?: string }): string[] {
  const dir = options.dir ?? KERNEL_BTF_DIR;
  const vmlinux = join(dir, "vmlinux");
  const names = native().btfNames([vmlinux], null, options.kind, options.prefix ?? "");
  if (options.modules === false) return names;
  let modules: string[] = [];
  try {
    modules = readdirSync(dir)
      .filter((f) => f !== "vmlinux")
      .map((f) => join(dir, f));
  } catch {
    return names;
  }
  if (modules.length > 0) names.push(...native().btfNames(modules, vmlinux, options.kind, options.prefix ?? ""));
  return names;
}
