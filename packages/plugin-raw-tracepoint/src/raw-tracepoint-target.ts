/**
 * Raw tracepoint targets, for both `raw_tp` and `tp_btf`: the tracepoint's name as the kernel
 * declares it (`sched_switch`, `sys_enter`, `kfree_skb`), without the tracefs category, with an
 * optional libbpf section prefix (`raw_tp/`, `raw_tracepoint/`, `tp_btf/`) that must agree with
 * the type.
 */
import { PluginTargetError } from "@ebpf-operator/core/sdk";

export interface RawTracepointTarget {
  /** The tracepoint, e.g. `sched_switch` (its BTF typedef is `btf_trace_sched_switch`). */
  name: string;
}

export const RAW_TRACEPOINT_TARGET_PATTERN = "^(?:(?:raw_tp|raw_tracepoint|tp_btf)/)?[A-Za-z_][A-Za-z0-9_]*$";

export const rawTracepointTargetSchema = {
  type: "string",
  pattern: RAW_TRACEPOINT_TARGET_PATTERN,
  maxLength: 256,
  description: "the tracepoint's name without category, e.g. sched_switch, sys_enter; optionally prefixed raw_tp/ (raw_tp) or tp_btf/ (tp_btf)",
};

const PREFIXES: Record<string, readonly string[]> = {
  raw_tp: ["raw_tp", "raw_tracepoint"],
  tp_btf: ["tp_btf"],
};

export function parseRawTracepointTarget(type: string, target: string): RawTracepointTarget {
  const match = /^(?:(raw_tp|raw_tracepoint|tp_btf)\/)?([A-Za-z_][A-Za-z0-9_]*)$/.exec(target.trim());
  if (!match) {
    const category = /^([A-Za-z0-9_]+)[/:]([A-Za-z0-9_]+)$/.exec(target.trim());
    const hint = category ? `: ${type} names a tracepoint without its category (${category[2]}, not ${category[1]}/${category[2]})` : " (e.g. sched_switch)";
    throw new PluginTargetError("EOP_ERR_TARGET_INVALID", `${type} target "${target}" is not a tracepoint name${hint}`);
  }
  const prefix = match[1];
  if (prefix !== undefined && !(PREFIXES[type] ?? []).includes(prefix)) {
    throw new PluginTargetError(
      "EOP_ERR_TARGET_INVALID",
      `${type} target "${target}" has the prefix of another type (${prefix}/): write ${match[2]} or ${PREFIXES[type]?.[0] ?? type}/${match[2]}`,
    );
  }
  return { name: match[2]! };
}
