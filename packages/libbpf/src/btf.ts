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
