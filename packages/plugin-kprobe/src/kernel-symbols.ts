/**
 * Kernel symbol lookup in /proc/kallsyms, and syscall-name resolution the way libbpf's
 * `ksyscall` does it: `sys_execve` is `__x64_sys_execve` on x86_64 kernels with syscall
 * wrappers (4.17+), `__arm64_sys_execve` on arm64, and so on.
 */
import { readFile } from "node:fs/promises";

const SYSCALL_PREFIX: Record<string, string> = {
  x64: "__x64_",
  ia32: "__ia32_",
  arm64: "__arm64_",
  s390x: "__s390x_",
  s390: "__s390_",
  riscv64: "__riscv_",
  ppc64: "",
  loong64: "",
};

export function syscallWrapperPrefix(arch: string = process.arch): string {
  return SYSCALL_PREFIX[arch] ?? "";
}

export interface KernelSymbols {
  has(name: string): boolean;
  names(): string[];
}

const CACHE_MS = 30_000;
let cached: { at: number; symbols: Promise<KernelSymbols> } | undefined;

/** The kernel's function symbols (`t`/`T`), cached briefly: kallsyms is large. */
export function kernelSymbols(path = "/proc/kallsyms"): Promise<KernelSymbols> {
  const now = Date.now();
  if (cached && now - cached.at < CACHE_MS && path === "/proc/kallsyms") return cached.symbols;
  const symbols = readFile(path, "utf8").then((text) => {
    const set = new Set<string>();
    for (const line of text.split("\n")) {
      // "ffffffff81234560 T __x64_sys_execve" or "... t name [module]"
      const parts = line.split(/\s+/);
      if (parts.length >= 3 && (parts[1] === "t" || parts[1] === "T")) set.add(parts[2]!);
    }
    return { has: (name: string) => set.has(name), names: () => [...set] };
  });
  if (path === "/proc/kallsyms") cached = { at: now, symbols };
  return symbols;
}

/**
 * The symbol to attach to for a function name: the name itself when the kernel has it, else
 * for `sys_*` names the arch's syscall wrapper. Undefined when neither exists.
 */
export function resolveFunction(name: string, symbols: KernelSymbols, arch: string = process.arch): string | undefined {
  const prefix = syscallWrapperPrefix(arch);
  if (name.startsWith("sys_") && prefix && symbols.has(`${prefix}${name}`)) return `${prefix}${name}`;
  if (symbols.has(name)) return name;
  return undefined;
}
