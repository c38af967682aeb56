import { native } from "./native.js";
import type { SeccompFilter, SeccompRule } from "./types.js";

/**
 * Compiles seccomp rules for the running architecture with libseccomp
 * (`seccomp_rule_add_array` + `seccomp_export_bpf`). Calls no rule matches fail with
 * `defaultErrno`; a call made through another ABI than the native one (int 0x80 or x32 on
 * x86_64) kills the caller. Several rules for one syscall are alternatives (any may match).
 * Nothing is loaded into the kernel here: the program is handed to whoever applies it.
 */
export function buildSeccompFilter(defaultErrno: number, rules: readonly SeccompRule[]): SeccompFilter {
  if (!Number.isInteger(defaultErrno) || defaultErrno <= 0 || defaultErrno > 4095) {
    throw new RangeError(`buildSeccompFilter: defaultErrno must be an errno (1..4095), got ${defaultErrno}`);
  }
  return native().buildSeccompFilter({ defaultErrno, rules });
}
