import { describe, expect, it } from "vitest";
import { WorkQueue } from "./work-queue.js";

describe("WorkQueue", () => {
  it("hands out a key once however often it is added", async () => {
    const queue = new WorkQueue();
    queue.add("a");
    queue.add("a");
    queue.add("b");
    expect(queue.length).toBe(2);
    expect(await queue.get()).toBe("a");
    expect(await queue.get()).toBe("b");
  });

  it("never hands out a key that is being processed, and re-queues it when done", async () => {
    const queue = new WorkQueue();
    queue.add("a");
    const first = await queue.get();
    queue.add("a"); // changed while being reconciled
    expect(queue.length).toBe(0);
    queue.done(first!);
    expect(await queue.get()).toBe("a");
  });

  it("wakes a waiting worker when a key arrives", async () => {
    const queue = new WorkQueue();
    const next = queue.get();
    queue.add("x");
    expect(await next).toBe("x");
  });

  it("backs off exponentially per key and resets on forget", () => {
    const queue = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50 });
    expect([queue.addRateLimited("k"), queue.addRateLimited("k"), queue.addRateLimited("k"), queue.addRateLimited("k")]).toEqual([10, 20, 40, 50]);
    queue.forget("k");
    expect(queue.addRateLimited("k")).toBe(10);
    queue.shutDown();
  });

  it("re-queues after the delay", async () => {
    const queue = new WorkQueue();
    queue.addAfter("later", 20);
    expect(queue.length).toBe(0);
    expect(await queue.get()).toBe("later");
  });

  it("releases waiting workers on shut-down", async () => {
    const queue = new WorkQueue();
    const next = queue.get();
    queue.shutDown();
    expect(await next).toBeUndefined();
  });
});

describe("WorkQueue fairness across namespaces", () => {
  it("hands out keys round-robin across namespaces, whatever order they arrived in", async () => {
    const queue = new WorkQueue();
    for (let i = 0; i < 5; i++) queue.add(`alice/m${i}`);
    queue.add("bob/x");
    queue.add("carol/y");
    queue.add("bob/z");
    const order: string[] = [];
    for (let i = 0; i < 8; i++) {
      const key = (await queue.get())!;
      order.push(key);
      queue.done(key);
    }
    expect(order).toEqual(["alice/m0", "bob/x", "carol/y", "alice/m1", "bob/z", "alice/m2", "alice/m3", "alice/m4"]);
  });

  it("gives a namespace a second worker only while no other namespace waits", async () => {
    const queue = new WorkQueue();
    queue.add("alice/slow-1");
    queue.add("alice/slow-2");
    const first = await queue.get(); // alice/slow-1 is stuck in a slow compile
    expect(first).toBe("alice/slow-1");
    queue.add("bob/edit");
    // The second worker serves bob before alice's second key, though alice's came first.
    expect(await queue.get()).toBe("bob/edit");
    // With nobody else waiting, alice may use both workers.
    expect(await queue.get()).toBe("alice/slow-2");
  });

  it("delays another tenant's revocation by one key per busy tenant, not by the backlog", async () => {
    const queue = new WorkQueue();
    for (let i = 0; i < 1000; i++) queue.add(`flood/m${i}`);
    queue.add("victim/revoked");
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const key = (await queue.get())!;
      order.push(key);
      queue.done(key);
    }
    expect(order.indexOf("victim/revoked")).toBeLessThanOrEqual(1);
    expect(queue.length).toBe(998);
  });

  it("wakes a waiting worker with a key of a namespace nobody is working on", async () => {
    const queue = new WorkQueue();
    queue.add("alice/a");
    const busy = await queue.get();
    const waiting = queue.get();
    queue.add("bob/b");
    expect(await waiting).toBe("bob/b");
    queue.done(busy!);
  });
});

describe("WorkQueue maxActivePerShard", () => {
  it("keeps a worker free for other namespaces while one namespace's reconciles are slow", async () => {
    const queue = new WorkQueue({ maxActivePerShard: 1 });
    queue.add("flood/a");
    queue.add("flood/b");
    expect(await queue.get()).toBe("flood/a");
    // The second worker does not take flood/b while flood/a runs ...
    const second = queue.get();
    const raced = await Promise.race([second, new Promise((r) => setTimeout(() => r("still waiting"), 20))]);
    expect(raced).toBe("still waiting");
    // ... so it is there at once for another tenant.
    queue.add("victim/edit");
    expect(await second).toBe("victim/edit");
    queue.done("victim/edit");
    queue.done("flood/a");
    expect(await queue.get()).toBe("flood/b");
  });
});
