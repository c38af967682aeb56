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
