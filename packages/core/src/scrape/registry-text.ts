/**
 * A registry read as exposition text: families in order, separated by a blank line, one final
 * newline ("\n" alone when there are no families), which is how prom-client's
 * `registry.metrics()` lays them out. In pieces (server/metrics-stream.ts writes them as they
 * come), or whole for small registries and tests.
 */
import { familyHeader } from "./exposition.js";
import type { Scope } from "./family.js";
import type { MetricRegistry, RegistryRead } from "./registry.js";

export function* exposition(read: RegistryRead): Generator<string, void, undefined> {
  const { families } = read;
  if (families.length === 0) yield "\n";
  for (let i = 0; i < families.length; i++) {
    const { family, read: values } = families[i]!;
    yield (i === 0 ? "" : "\n") + familyHeader(family);
    for (const piece of values.lines()) yield piece;
  }
}

/** The whole text at once: for small registries (the operator's) and tests. */
export async function registryText(registry: MetricRegistry, scope?: Scope): Promise<string> {
  let out = "";
  for (const piece of exposition(await registry.read(scope))) out += piece;
  return out;
}
