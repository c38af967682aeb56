/**
 * A registry read as exposition text: families in order, separated by a blank line, one final
 * newline ("\n" alone when there are no families), which is how prom-client's
 * `registry.metrics()` lays them out. In pieces (server/metrics-stream.ts writes them as they
 * come), or whole for small registries and tests.
 */
import { familyHeader } from "./exposition.js";
import type { Scope } from "./family.js";
import type { MetricRegistry, RegistryRead } from "./registry.js";

export function* exposition(read: RegistryRead, omitEmpty = false): Generator<string, void, undefined> {
  const { families } = read;
  let written = 0;
  for (const { family, read: values } of families) {
    const header = (written === 0 ? "" : "\n") + familyHeader(family);
    if (!omitEmpty) {
      written++;
      yield header;
      for (const piece of values.lines()) yield piece;
      continue;
    }
    // A tenant's view: a family none of whose series is the tenant's is left out whole, HELP
    // and TYPE included (another tenant's metric names and help texts are theirs).
    let pending: string | undefined = header;
    for (const piece of values.lines()) {
      if (piece === "") continue;
      if (pending !== undefined) {
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
  let out = "";
  for (const piece of exposition(await registry.read(scope), scope?.namespaces !== undefined)) out += piece;
  return out;
}
