/**
 * A registry read as exposition text: families in order, separated by a blank line, one final
 * newline ("\n" alone when there are no families), which is how prom-client's
 * `registry.metrics()` lays them out. In pieces (server/metrics-stream.ts writes them as they
 * come), or whole for small registries and tests.
 */
import { bodyChunks } from "./byte-lines.js";
import { familyHeader } from "./exposition.js";
import type { Scope } from "./family.js";
import type { MetricRegistry, RegistryRead } from "./registry.js";

export function* exposition(read: RegistryRead, omitEmpty = false): Generator<string | Uint8Array, void, undefined> {
  const { families } = read;
  let written = 0;
  for (const { family, read: values } of families) {
    const header = (written === 0 ? "" : "\n") + familyHeader(family);
    // Families that write bytes (the eBPF ones) are taken as bytes: no string per line.
    const pieces: Iterable<string | Uint8Array> = values.bytes ? values.bytes() : values.lines();
    if (!omitEmpty) {
      written++;
      yield header;
      yield* pieces;
      continue;
    }
    // A tenant's view: a family none of whose series is the tenant's is left out whole, HELP
    // and TYPE included (another tenant's metric names and help texts are theirs).
    let pending: string | undefined = header;
    for (const piece of pieces) {
      // An empty piece is a step boundary: passed on (the writer may yield there), no header yet.
      if (pending !== undefined && piece.length > 0) {
        written++;
        yield pending;
        pending = undefined;
      }
      yield piece;
    }
  }
  if (written === 0) yield "\n";
}

/** The whole text at once: for small registries (the operator's) and tests. A scoped read leaves out empty families. */
export async function registryText(registry: MetricRegistry, scope?: Scope): Promise<string> {
  const read = await registry.read(scope);
  try {
    let out = "";
    for (const piece of exposition(read, scope?.namespaces !== undefined)) {
      if (typeof piece === "string") out += piece;
      else {
        out += Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength).toString("utf8");
        bodyChunks.give(piece);
      }
    }
    return out;
  } finally {
    read.release?.();
  }
}
