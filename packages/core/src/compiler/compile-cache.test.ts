import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CompileCache, RESCAN_AFTER_WRITES } from "./compile-cache.js";

describe("CompileCache eviction", () => {
  const dirs: string[] = [];
  const scratch = () => {
    const dir = mkdtempSync(join(tmpdir(), `eop-cache-${process.pid}-`));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the bound with the size it tracks between scans", async () => {
    const cache = new CompileCache(scratch(), 10_000, 0);
    expect((await cache.evict()).size).toBe(0); // the first call scans
    let evicted = 0;
    for (let i = 0; i < 6; i++) {
      await cache.store(`k${i}`, new Uint8Array(3000), []);
      evicted += (await cache.evict()).evicted;
      expect(await cache.size()).toBeLessThanOrEqual(10_000);
    }
    expect(evicted).toBeGreaterThan(0);
  });

  it("finds what another process wrote at the latest after RESCAN_AFTER_WRITES writes of its own", async () => {
    const dir = scratch();
    const cache = new CompileCache(dir, 10_000, 0);
    await cache.store("mine", new Uint8Array(100), []);
    expect((await cache.evict()).evicted).toBe(0);
    // Another process sharing the directory stores a large object.
    mkdirSync(join(dir, "objects"), { recursive: true });
    writeFileSync(join(dir, "objects", "theirs.o"), new Uint8Array(20_000));
    let evicted = 0;
    let calls = 0;
    while (evicted === 0 && calls <= RESCAN_AFTER_WRITES) {
      await cache.storeManifest(`m${calls}`, "mine", []);
      evicted += (await cache.evict()).evicted;
      calls += 1;
    }
    expect(evicted).toBeGreaterThan(0);
    expect(calls).toBeLessThanOrEqual(RESCAN_AFTER_WRITES);
    expect(await cache.size()).toBeLessThanOrEqual(10_000);
  });
});
