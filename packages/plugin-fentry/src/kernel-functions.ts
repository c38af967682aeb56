/**
 * Kernel functions a trampoline can attach to: the FUNC types of the kernel's BTF (vmlinux and
 * loaded modules), which is also what libbpf resolves an fentry/fexit program against. Syscall
 * names resolve to the architecture's wrapper the way libbpf's `ksyscall` does.
 */
import { kernelBtfTypeNames } from "@ebpf-operator/libbpf";

const SYSCALL_PREFIX: Record<string, string> = {
  x64: "__x64_",
  ia32: "__ia32_",
  arm64: "__arm64_",
  s390x: "__s390x_",
  riscv64: "__riscv_",
};

export function syscallWrapperPrefix(arch: string = process.arch): string {
  return SYSCALL_PREFIX[arch] ?? "";
}

const CACHE_MS = 60_000;
let cached: { at: number; names: Set<string> } | undefined;

/** The kernel's BTF function names, cached for a minute (a few MB to parse). */
export function btfFunctions(): Set<string> {
  const now = Date.now();
  if (cached && now - cached.at < CACHE_MS) return cached.names;
  const names = new Set(kernelBtfTypeNames({ kind: "func" }));
  cached = { at: now, names };
  return names;
}

/** The BTF function for a name: itself, or for `sys_*` the arch's syscall wrapper; undefined if neither. */
export function resolveKernelFunction(name: string, functions: ReadonlySet<string>, arch: string = process.arch): string | undefined {
  const prefix = syscallWrapperPrefix(arch);
  if (name.startsWith("sys_") && prefix && functions.has(`${prefix}${name}`)) return `${prefix}${name}`;
  return functions.has(name) ? name : undefined;
}
