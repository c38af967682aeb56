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

/**
 * Names of the functions (`func`) or typedefs (`typedef`) in a BTF file that start with `prefix`:
 * `/sys/kernel/btf/vmlinux`, or a module's file under `/sys/kernel/btf/` read as split BTF over
 * `base` (vmlinux). Plugins use it to check an attach point exists before compiling.
 */
export function btfTypeNames(path: string, options: { base?: string; kind: "func" | "typedef"; prefix?: string }): string[] {
  if (typeof path !== "string" || path === "") throw new TypeError("btfTypeNames: expected a path");
  return native().btfNames(path, options.base ?? null, options.kind, options.prefix ?? "");
}
