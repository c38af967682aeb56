/**
 * `ksym`: a kernel address (8 bytes, host order) as the name of the kernel symbol containing it
 * (`/proc/kallsyms`: the symbol with the greatest address <= the input). The table is read once,
 * sorted, and searched by bisection; an address beyond it (a module loaded since) re-reads the
 * table at most once per `retryMs`. Without the privilege to read addresses (kallsyms shows
 * zeros), or for an address below every symbol, the result is `unknown:0x<address>`.
 */
import { readFileSync } from "node:fs";
import type { CoreDecoder } from "./decoder.js";
import { readUint } from "./input.js";

export interface KsymTable {
  addresses: BigUint64Array;
  names: string[];
}

/** Parses kallsyms text into a table sorted by address (zero addresses dropped). */
export function parseKallsyms(text: string): KsymTable {
  const rows: [bigint, string][] = [];
  for (const line of text.split("\n")) {
    const [address, , name] = line.split(/\s+/, 3);
    if (!address || !name) continue;
    const value = BigInt(`0x${address}`);
    if (value !== 0n) rows.push([value, name]);
  }
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { addresses: BigUint64Array.from(rows.map((r) => r[0])), names: rows.map((r) => r[1]) };
}

/** Index of the greatest address <= `address`, or -1. */
export function findSymbol(table: KsymTable, address: bigint): number {
  let lo = 0;
  let hi = table.addresses.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (table.addresses[mid]! <= address) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

export interface KsymDecoderOptions {
  readKallsyms?: () => string;
  retryMs?: number;
  now?: () => number;
}

export function createKsymDecoder(options: KsymDecoderOptions = {}): CoreDecoder {
  const read = options.readKallsyms ?? (() => readFileSync("/proc/kallsyms", "utf8"));
  const retryMs = options.retryMs ?? 60_000;
  const now = options.now ?? Date.now;
  let table: KsymTable | undefined;
  let loadedAt = Number.NEGATIVE_INFINITY;
  const load = () => {
    loadedAt = now();
    try {
      table = parseKallsyms(read());
    } catch {
      table = { addresses: new BigUint64Array(0), names: [] };
    }
  };
  return {
    name: "ksym",
    decode(input) {
      const address = input.length === 8 ? readUint(input)! : undefined;
      if (address === undefined) return `unknown:0x${input.toString("hex")}`;
      if (!table) load();
      let index = findSymbol(table!, address);
      const beyond = index === -1 || index === table!.addresses.length - 1;
      if (beyond && now() - loadedAt >= retryMs) {
        load();
        index = findSymbol(table!, address);
      }
      return index === -1 ? `unknown:0x${address.toString(16)}` : table!.names[index]!;
    },
  };
}

export const ksym: CoreDecoder = createKsymDecoder();
