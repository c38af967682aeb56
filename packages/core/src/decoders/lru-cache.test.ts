import { describe, expect, it } from "vitest";
import { LruCache } from "./lru-cache.js";

describe("LruCache", () => {
  it("evicts the least recently used entry beyond its bound", () => {
    const cache = new LruCache<string, number>({ maxEntries: 2 });
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.get("a")).toBe(1); // a is now the most recent
    cache.set("c", 3);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(1);
    expect(cache.get("c")).toBe(3);
    expect(cache.size).toBe(2);
  });

  it("forgets an entry once its time to live has passed", () => {
    let now = 1000;
    const cache = new LruCache<number, string>({ maxEntries: 10, now: () => now });
    cache.set(1, "miss", 500);
    cache.set(2, "hit");
    now = 1499;
    expect(cache.get(1)).toBe("miss");
    now = 1500;
    expect(cache.get(1)).toBeUndefined();
    expect(cache.get(2)).toBe("hit");
    expect(cache.size).toBe(1);
  });
});
