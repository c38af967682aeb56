/**
 * A registry read as exposition text: families in order, separated by a blank line, one final
 * newline ("\n" alone when there are no families), which is how prom-client's
 * `registry.metrics()` lays them out. In pieces (server/metrics-stream.ts writes them as they
 * come), or whole for small registries and tests.
 */
import { familyHeader } from "./exposition.js";
import type { Scope } from "./family.js";
import type { MetricRegistry, RegistryRead } from "./registry.js";

export function* exposition(read: RegistryRead): Generator<string | Uint8Array, void, undefined> {
  const { families } = read;
  if (families.length === 0) yield "\n";
  for (let i = 0; i < families.length; i++) {
    const { family, read: values } = families[i]!;
    yield (i === 0 ? "" : "\n") + familyHeader(family);
    // Families that write bytes (the eBPF ones) are taken as bytes: no string per line.
    if (values.bytes) yield* values.bytes();
    else yield* values.lines();
  }
}

/** The whole text at once: for small registries (the operator's) and tests. */
export async function registryText(registry: MetricRegistry, scope?: Scope): Promise<string> {
  const read = await registry.read(scope);
  try {
    let out = "";
    for (const piece of exposition(read))
      out += typeof piece === "string" ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength).toString("utf8");
    return out;
  } finally {
    read.release?.();
  }
}
