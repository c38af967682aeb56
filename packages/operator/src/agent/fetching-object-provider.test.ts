import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DesiredResource } from "@ebpf-operator/core";
import { afterEach, describe, expect, it } from "vitest";
import type { ObjectStore } from "../shared/object-store.js";
import { FetchingObjectProvider } from "./fetching-object-provider.js";

describe("FetchingObjectProvider", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("serves many loads of the same object fetched at once, each with the whole object, and leaves no temp file", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "eop-fetch-"));
    dirs.push(cacheDir);
    const bytes = Buffer.from("an object's bytes");
    // The store is the API server's ConfigMaps in the cluster; here only the bytes matter.
    const store = {
      fetch: async () => {
        await new Promise((r) => setTimeout(r, 5));
        return bytes;
      },
    } as unknown as ObjectStore;
    const provider = new FetchingObjectProvider(store, cacheDir);
    const resource = { status: { object: { hash: "h1", sha256: "ab".repeat(32) } } } as unknown as DesiredResource;
    const request = { ref: { namespace: "ns", name: "m" }, resource, label: "ns/m" } as Parameters<FetchingObjectProvider["obtain"]>[0];
    const results = await Promise.all(Array.from({ length: 8 }, () => provider.obtain(request)));
    for (const result of results) expect(readFileSync(result.objectPath)).toEqual(bytes);
    expect(readdirSync(join(cacheDir, "fetched"))).toEqual([`${"ab".repeat(32)}.o`]);
  });
});
