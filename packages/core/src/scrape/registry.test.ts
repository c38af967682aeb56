import { describe, expect, it } from "vitest";
import type { FamilyRead, MetricFamily } from "./family.js";
import { MetricRegistry, sharedReads } from "./registry.js";

/** A family whose reads count their releases. */
function family(name: string, released: string[], fail = false): MetricFamily {
  return {
    name,
    help: "h",
    type: "gauge",
    read: async (): Promise<FamilyRead> => {
      if (fail) throw new Error(`${name} failed`);
      return { lines: () => [], rows: () => [], release: () => void released.push(name) };
    },
  };
}

describe("registry reads and their release", () => {
  it("releases every family's read once, and what was read when another family fails", async () => {
    const released: string[] = [];
    const registry = new MetricRegistry();
    registry.register(family("a", released));
    registry.register(family("b", released));
    const read = await registry.read();
    read.release!();
    read.release!();
    expect(released).toEqual(["a", "b"]);

    released.length = 0;
    registry.register(family("c", released, true));
    await expect(registry.read()).rejects.toThrow("c failed");
    expect(released).toEqual(["a", "b"]);
  });

  it("shares one read between holders asking at once and releases it after the last holder", async () => {
    const released: string[] = [];
    const registry = new MetricRegistry();
    registry.register(family("a", released));
    let reads = 0;
    const shared = sharedReads(() => {
      reads++;
      return registry.read();
    });
    const [one, two] = await Promise.all([shared(), shared()]);
    expect(reads).toBe(1);
    expect(one.families[0]!.read).toBe(two.families[0]!.read);
    one.release!();
    one.release!(); // a holder's second release does not count for the other
    expect(released).toEqual([]);
    two.release!();
    expect(released).toEqual(["a"]);
    // Settled: the next caller gets a new read.
    const three = await shared();
    expect(reads).toBe(2);
    three.release!();
    expect(released).toEqual(["a", "a"]);
  });

  it("shares reads per key (one tenant's view), never across keys, and forgets a key once its read settles", async () => {
    const asked: string[] = [];
    const registry = new MetricRegistry();
    const shared = sharedReads((namespace: string) => {
      asked.push(namespace);
      return registry.read({ namespaces: new Set([namespace]) });
    });
    const [a1, a2, b] = await Promise.all([shared("team-a"), shared("team-a"), shared("team-b")]);
    expect(asked).toEqual(["team-a", "team-b"]);
    for (const r of [a1, a2, b]) r.release!();
    await shared("team-a");
    expect(asked).toEqual(["team-a", "team-b", "team-a"]);
  });
});
