import { describe, expect, it } from "vitest";
import { releaseFreeMemory } from "./index.js";

describe("releaseFreeMemory", () => {
  it("collects the JavaScript heap's garbage at once (the V8 half) and answers whether glibc trimmed", () => {
    let garbage: number[][] | undefined = Array.from({ length: 200 }, () => Array.from({ length: 50_000 }, (_, i) => i * 1.5));
    const withGarbage = process.memoryUsage().heapUsed;
    expect(garbage.length).toBe(200);
    garbage = undefined;
    expect(typeof releaseFreeMemory()).toBe("boolean");
    // 200 arrays of 50,000 doubles: ~80 MiB of garbage, gone without waiting for a scheduled GC.
    expect(withGarbage - process.memoryUsage().heapUsed).toBeGreaterThan(60 * 1024 * 1024);
  });
});
