/**
 * `errno`: an error number (decimal text, usually after `uint` or `int`) as its name
 * (`2` and `-2` -> `ENOENT`: kernel functions return `-errno`). Names come from Node's
 * `os.constants.errno` for this platform; where two names share a number the POSIX-preferred
 * one wins (`EAGAIN` over `EWOULDBLOCK`). Unknown numbers, and 0, become `unknown:<n>`.
 */
import { constants } from "node:os";
import type { CoreDecoder } from "./decoder.js";
import { parseSmallInt, unknown } from "./input.js";

const PREFERRED = new Set(["EAGAIN", "EDEADLK", "EOPNOTSUPP"]);

function buildTable(): ReadonlyMap<number, string> {
  const table = new Map<number, string>();
  for (const [name, value] of Object.entries(constants.errno)) {
    if (!table.has(value) || PREFERRED.has(name)) table.set(value, name);
  }
  return table;
}

export const ERRNO_NAMES: ReadonlyMap<number, string> = buildTable();

export const errno: CoreDecoder = {
  name: "errno",
  decode(input) {
    const n = parseSmallInt(input);
    return (n !== undefined && ERRNO_NAMES.get(Math.abs(n))) || unknown(input);
  },
};
