/**
 * uprobe/uretprobe targets: a function of a user-space binary or shared library.
 *
 *   [uprobe/|uretprobe/]<binary>:<symbol>[+<offset>][?pid=<n>]
 *   [uprobe/|uretprobe/]<binary>:<file offset>[?pid=<n>]
 *
 * `<binary>` is an absolute path (`/usr/bin/bash`, `/lib/x86_64-linux-gnu/libc.so.6`) or a bare
 * file name looked up in PATH and then the library directories (`bash`, `libc.so.6`); it must
 * not contain `:`, `?` or blanks. `<symbol>` is a function in the file's ELF symbol tables
 * (`malloc` matches `malloc@GLIBC_2.2.5`); `+<offset>` probes an instruction inside it (uprobe
 * only: a return probe fires on return). A bare offset (`0x1a2b`) is a file offset.
 * `?pid=<n>` fires only in that process (its pid in the agent's pid namespace).
 */
import { PluginTargetError } from "@ebpf-operator/core/sdk";

export interface UprobeTarget {
  /** The binary as written. */
  binary: string;
  /** Filled in by `resolveTarget`: the file the binary names, as an absolute path. */
  path?: string;
  /** Pod scope: where the file was found (`path` is then `/proc/self/fd/<n>`, the file open). */
  inPod?: string;
  /** The function; absent for a bare file offset. */
  symbol?: string;
  /** Added to the symbol's offset, or the file offset when there is no symbol. */
  offset: number;
  pid?: number;
  retprobe: boolean;
}

const NUMBER = "0x[0-9a-fA-F]+|[0-9]+";
// Linear by construction: every part ends at a character the next part cannot start with.
export const UPROBE_TARGET_PATTERN =
  `^(?:(uprobe|uretprobe)/)?(/[^:?\\s]+|[A-Za-z0-9_.+-]+):` + `(?:([A-Za-z_][A-Za-z0-9_.$]*)(?:\\+(${NUMBER}))?|(${NUMBER}))(?:\\?pid=([1-9][0-9]{0,9}))?$`;

export const uprobeTargetSchema = {
  type: "string",
  pattern: UPROBE_TARGET_PATTERN,
  maxLength: 512,
  description: "<binary>:<symbol>[+offset][?pid=n] or <binary>:<file offset>, e.g. /usr/bin/bash:readline, libc.so.6:malloc, /opt/app:handle+0x10?pid=42",
};

const SYNTAX = "[uprobe/|uretprobe/]<binary>:<symbol>[+<offset>][?pid=<n>], e.g. /usr/bin/bash:readline or libc.so.6:malloc";

export function parseUprobeTarget(programType: string, target: string): UprobeTarget {
  const match = new RegExp(UPROBE_TARGET_PATTERN).exec(target.trim());
  if (!match) throw invalid(programType, target, `is not ${SYNTAX}`);
  const [, prefix, binary, symbol, symbolOffset, fileOffset, pid] = match;
  const retprobe = programType === "uretprobe";
  if (prefix !== undefined && prefix !== programType) throw invalid(programType, target, `has the prefix ${prefix}/, which contradicts type: ${programType}`);
  const offset = Number(symbolOffset ?? fileOffset ?? 0);
  if (!Number.isSafeInteger(offset)) throw invalid(programType, target, "has an offset beyond 2^53");
  if (retprobe && symbolOffset !== undefined)
    throw invalid(programType, target, "has an offset into the function: return probes fire on the function's return");
  if (symbol === undefined && offset === 0) throw invalid(programType, target, "has file offset 0: name a function, or give the offset of one");
  return { binary: binary!, symbol, offset, pid: pid === undefined ? undefined : Number(pid), retprobe };
}

/** How a target reads in /status and messages: `/usr/bin/bash:readline (pid 42)`. */
export function describeTarget(target: UprobeTarget): string {
  const where = target.symbol ? `${target.symbol}${target.offset ? `+0x${target.offset.toString(16)}` : ""}` : `0x${target.offset.toString(16)}`;
  if (target.inPod !== undefined) return `${target.binary}:${where} in ${target.inPod}`;
  return `${target.path ?? target.binary}:${where}${target.pid ? ` (pid ${target.pid})` : ""}`;
}

function invalid(programType: string, target: string, why: string): PluginTargetError {
  return new PluginTargetError("EOP_ERR_TARGET_INVALID", `${programType} target "${target}" ${why}`);
}
