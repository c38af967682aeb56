/**
 * `syscall`: a syscall number (decimal text, so usually after `uint`) as its name, for the
 * architecture of the kernel the agent runs on (`59` -> `execve` on x86_64, `221` -> `execve` on
 * arm64): syscall numbers differ between architectures. Option `arch` (`x86_64`, `arm64`) picks
 * another table. The tables are committed (see scripts/gen-syscall-table.mjs), so nodes need no
 * kernel headers. Unknown numbers, and every number on an architecture without a table, become
 * `unknown:<n>`.
 */
import { machine } from "node:os";
import type { CoreDecoder, DecoderOptions } from "./decoder.js";
import { parseSmallInt, unknown } from "./input.js";
import { SYSCALLS_ARM64, SYSCALLS_X86_64 } from "./syscall-table.js";

export const SYSCALL_TABLES: Readonly<Record<string, ReadonlyMap<number, string>>> = { x86_64: SYSCALLS_X86_64, arm64: SYSCALLS_ARM64 };

/** `uname -m` spellings of the architectures with a table. */
const MACHINE_ARCH: Readonly<Record<string, string>> = { x86_64: "x86_64", amd64: "x86_64", aarch64: "arm64", arm64: "arm64" };

/** The table of the running kernel's architecture (`os.machine()`, i.e. `uname -m`), if there is one. */
export function kernelSyscallTable(kernelMachine: string = machine()): ReadonlyMap<number, string> | undefined {
  const arch = MACHINE_ARCH[kernelMachine];
  return arch ? SYSCALL_TABLES[arch] : undefined;
}

const running = kernelSyscallTable();

function tableFor(options: DecoderOptions): ReadonlyMap<number, string> | undefined {
  return typeof options.arch === "string" ? SYSCALL_TABLES[options.arch] : running;
}

export const syscall: CoreDecoder = {
  name: "syscall",
  checkOptions(options) {
    if (options.arch === undefined || (typeof options.arch === "string" && SYSCALL_TABLES[options.arch])) return undefined;
    return `arch must be one of ${Object.keys(SYSCALL_TABLES).join(", ")} (default: the running kernel's)`;
  },
  decode(input, options) {
    const n = parseSmallInt(input);
    return (n !== undefined && tableFor(options)?.get(n)) || unknown(input);
  },
};
