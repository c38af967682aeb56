import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ObjectStore, objectConfigMapName } from "./object-store.js";

/**
 * The publish bookkeeping only (pure logic): a stand-in CoreV1Api records the calls. Publishing
 * against the real API server is covered by the kube tests (operator, e2e, deploy).
 */
function fakeCore() {
  const calls: string[] = [];
  const core = {
    createNamespacedConfigMap: vi.fn(async ({ body }: { body: { metadata: { name: string } } }) => {
      calls.push(`create ${body.metadata.name}`);
      return body;
    }),
    listNamespacedConfigMap: vi.fn(async () => ({
      items: [{ metadata: { name: objectConfigMapName("a".repeat(64)), creationTimestamp: new Date(0).toISOString() } }],
    })),
    deleteNamespacedConfigMap: vi.fn(async ({ name }: { name: string }) => {
      calls.push(`delete ${name}`);
      return {};
    }),
  };
  const kubeConfig = { makeApiClient: () => core } as unknown as KubeConfig;
  return { calls, kubeConfig };
}

describe("ObjectStore.publish", () => {
  let dir: string;
  let objectPath: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "eop-object-store-"));
    objectPath = join(dir, "object.o");
    writeFileSync(objectPath, Buffer.from("not really ELF"));
  });
  afterEach(() => {
    vi.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates an object once while it was published recently, and again after a while", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const { calls, kubeConfig } = fakeCore();
    const store = new ObjectStore(kubeConfig, "system");
    const hash = "a".repeat(64);
    const first = await store.publish(hash, objectPath);
    const second = await store.publish(hash, objectPath);
    expect(second).toEqual(first);
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(calls).toEqual([`create ${objectConfigMapName(hash)}`]);
    vi.setSystemTime(Date.now() + 6 * 60_000);
    await store.publish(hash, objectPath);
    expect(calls).toHaveLength(2);
  });

  it("forgets an object it garbage-collects, so the next publish creates it again", async () => {
    const { calls, kubeConfig } = fakeCore();
    const store = new ObjectStore(kubeConfig, "system");
    const hash = "a".repeat(64);
    await store.publish(hash, objectPath);
    expect(await store.collectGarbage(new Set(), 0)).toEqual([objectConfigMapName(hash)]);
    await store.publish(hash, objectPath);
    expect(calls).toEqual([`create ${objectConfigMapName(hash)}`, `delete ${objectConfigMapName(hash)}`, `create ${objectConfigMapName(hash)}`]);
  });
});
