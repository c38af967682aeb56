/**
 * `syscall`: an x86_64 syscall number (decimal text, so usually after `uint`) as its name
 * (`59` -> `execve`). The table is committed (see scripts/gen-syscall-table.mjs), so nodes need
 * no kernel headers. Unknown numbers become `unknown:<n>`.
 */
import type { CoreDecoder } from "./decoder.js";
import { parseSmallInt, unknown } from "./input.js";
import { SYSCALLS_X86_64 } from "./syscall-table.js";

export const syscall: CoreDecoder = {
  name: "syscall",
  decode(input) {
    const n = parseSmallInt(input);
    return (n !== undefined && SYSCALLS_X86_64.get(n)) || unknown(input);
  },
};
