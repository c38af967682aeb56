/**
 * `ifname`: a network interface index (1-8 bytes, host order, e.g. `skb->ifindex`) as the
 * interface's name in the agent's network namespace (`/sys/class/net/<name>/ifindex`).
 * Cached with a bound; unknown indexes are retried after a short time, so an interface created
 * later is named on a later scrape.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { CoreDecoder } from "./decoder.js";
import { readUint, unknown } from "./input.js";
import { RescanningIndex } from "./rescanning-index.js";

export function* scanInterfaces(classNet = "/sys/class/net"): Generator<readonly [number, string]> {
  for (const name of readdirSync(classNet)) {
    try {
      yield [Number(readFileSync(join(classNet, name, "ifindex"), "utf8").trim()), name];
    } catch {
      // removed while scanning
    }
  }
}

export interface IfnameDecoderOptions {
  classNet?: string;
  maxEntries?: number;
  negativeTtlMs?: number;
  now?: () => number;
}

export function createIfnameDecoder(options: IfnameDecoderOptions = {}): CoreDecoder {
  const index = new RescanningIndex<number>({
    scan: () => scanInterfaces(options.classNet),
    maxEntries: options.maxEntries ?? 1024,
    negativeTtlMs: options.negativeTtlMs,
    now: options.now,
  });
  return {
    name: "ifname",
    decode(input) {
      const value = readUint(input);
      if (value === undefined) return unknown(input);
      const ifindex = Number(value);
      return index.resolve(ifindex) ?? `unknown:${ifindex}`;
    },
  };
}

export const ifname: CoreDecoder = createIfnameDecoder();
