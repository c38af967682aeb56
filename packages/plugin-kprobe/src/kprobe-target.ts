/**
 * kprobe/kretprobe targets: a kernel function, optionally `+offset` (kprobe only), with an
 * optional `kprobe/` or `kretprobe/` prefix as in libbpf section names.
 */
import { PluginTargetError } from "@ebpf-operator/core/sdk";

export interface KprobeTarget {
  /** The function as written; `resolveTarget` fills `symbol` with the kernel's name for it. */
  function: string;
  symbol: string;
  offset: number;
  retprobe: boolean;
}

const TARGET = /^(?:k(?:ret)?probe\/)?([A-Za-z_][A-Za-z0-9_.]*)(?:\+(0x[0-9a-fA-F]+|[0-9]+))?$/;

export const kprobeTargetSchema = {
  type: "string",
  pattern: TARGET.source,
  description: "a kernel function, optionally +offset: sys_execve, do_unlinkat, tcp_v4_connect+0x10",
};

export function parseKprobeTarget(programType: string, target: string): KprobeTarget {
  const match = TARGET.exec(target.trim());
  if (!match) {
    throw new PluginTargetError("EOP_ERR_TARGET_INVALID", `${programType} target "${target}" is not a kernel function name with an optional +offset`);
  }
  const offset = match[2] ? Number(match[2]) : 0;
  const retprobe = programType === "kretprobe";
  if (retprobe && offset !== 0) {
    throw new PluginTargetError("EOP_ERR_TARGET_INVALID", `kretprobe target "${target}" cannot have an offset: return probes fire on the function's return`);
  }
  return { function: match[1]!, symbol: match[1]!, offset, retprobe };
}
