import { describe, expect, it } from "vitest";
import { RescanningIndex } from "./rescanning-index.js";

describe("RescanningIndex", () => {
  it("names an id created after a miss once the negative entry has expired", () => {
    let now = 0;
    const world = new Map([[1, "eth0"]]);
    const index = new RescanningIndex<number>({ scan: () => world, negativeTtlMs: 100, now: () => now });
    expect(index.resolve(1)).toBe("eth0");
    expect(index.resolve(2)).toBeUndefined();
    world.set(2, "veth0");
    now = 50;
    expect(index.resolve(2)).toBeUndefined(); // still the negative entry
    now = 150;
    expect(index.resolve(2)).toBe("veth0");
    expect(index.scans).toBe(2);
  });

  it("scans once for a burst of unknown ids", () => {
    const index = new RescanningIndex<number>({ scan: () => [], negativeTtlMs: 1000, now: () => 0 });
    for (let id = 0; id < 100; id++) expect(index.resolve(id)).toBeUndefined();
    expect(index.scans).toBe(1);
  });

  it("keeps at most maxEntries names", () => {
    const world = new Map(Array.from({ length: 50 }, (_, i) => [i, `n${i}`] as const));
    const index = new RescanningIndex<number>({ scan: () => world, maxEntries: 10, negativeTtlMs: 0, now: () => 0 });
    expect(index.resolve(3)).toBe("n3");
  });

  it("treats a scan that throws as every id unknown", () => {
    const index = new RescanningIndex<number>({
      scan: () => {
        throw new Error("ENOENT");
      },
    });
    expect(index.resolve(1)).toBeUndefined();
  });
});
