/**
 * Tracepoint targets: `category/name` or `category:name` (as tracefs and perf write them), with
 * an optional `tracepoint/` or `tp/` prefix as in libbpf section names.
 */
import { PluginTargetError } from "@ebpf-operator/core/sdk";

export interface TracepointTarget {
  category: string;
  name: string;
}

export const TRACEPOINT_TARGET_PATTERN = "^(?:(?:tracepoint|tp)/)?[A-Za-z0-9_]+[/:][A-Za-z0-9_]+$";

export const tracepointTargetSchema = {
  type: "string",
  pattern: TRACEPOINT_TARGET_PATTERN,
  description: "category/name or category:name, e.g. syscalls/sys_enter_execve",
};

export function parseTracepointTarget(target: string): TracepointTarget {
  const match = /^(?:(?:tracepoint|tp)\/)?([A-Za-z0-9_]+)[/:]([A-Za-z0-9_]+)$/.exec(target.trim());
  if (!match) {
    throw new PluginTargetError(
      "EOP_ERR_TARGET_INVALID",
      `tracepoint target "${target}" is not category/name or category:name (e.g. syscalls/sys_enter_execve)`,
    );
  }
  return { category: match[1]!, name: match[2]! };
}
