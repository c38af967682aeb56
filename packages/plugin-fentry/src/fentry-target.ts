/**
 * fentry/fexit targets: a kernel function by name (`do_unlinkat`, `tcp_v4_connect`), with an
 * optional libbpf section prefix (`fentry/`, `fexit/`) that must agree with the type. Syscalls may
 * be named as users know them (`sys_execve`): resolution turns them into the architecture's
 * wrapper (`__x64_sys_execve`) the way libbpf's `ksyscall` does. No offsets: a trampoline is at
 * the function's entry (fentry) or return (fexit).
 */
import { PluginTargetError } from "@ebpf-operator/core/sdk";

export interface FentryTarget {
  /** The function as written. */
  function: string;
  /** The kernel's BTF function it resolved to (set by resolveTarget). */
  symbol?: string;
}

export const FENTRY_TARGET_PATTERN = "^(?:(?:fentry|fexit)/)?[A-Za-z_][A-Za-z0-9_]*$";

export const fentryTargetSchema = {
  type: "string",
  pattern: FENTRY_TARGET_PATTERN,
  maxLength: 256,
  description: "a kernel function, e.g. do_unlinkat or sys_openat (the syscall wrapper); optionally prefixed fentry/ or fexit/",
};

export function parseFentryTarget(type: string, target: string): FentryTarget {
  const match = /^(?:(fentry|fexit)\/)?([A-Za-z_][A-Za-z0-9_]*)$/.exec(target.trim());
  if (!match) {
    const offset = /^(?:(?:fentry|fexit)\/)?([A-Za-z_][A-Za-z0-9_]*)\+/.exec(target.trim());
    const why = offset
      ? `: ${type} attaches at the function's ${type === "fexit" ? "return" : "entry"}, not at an offset (a kprobe takes offsets)`
      : " (e.g. do_unlinkat)";
    throw new PluginTargetError("EOP_ERR_TARGET_INVALID", `${type} target "${target}" is not a kernel function name${why}`);
  }
  if (match[1] !== undefined && match[1] !== type) {
    throw new PluginTargetError(
      "EOP_ERR_TARGET_INVALID",
      `${type} target "${target}" has the prefix of another type (${match[1]}/): write ${match[2]} or ${type}/${match[2]}`,
    );
  }
  return { function: match[2]! };
}
