import { describe, expect, it } from "vitest";
import { SendQueue } from "./send-queue.js";

const batch = (samples: number) => ({ body: Buffer.alloc(1), samples });

describe("the remote-write send queue", () => {
  it("drops the oldest batches when a new one would pass the bound, and says how many samples", () => {
    const queue = new SendQueue(10);
    const first = batch(4);
    expect(queue.push(first)).toBe(0);
    expect(queue.push(batch(4))).toBe(0);
    expect(queue.push(batch(4))).toBe(4);
    expect(queue.pendingSamples).toBe(8);
    expect(queue.take()).not.toBe(first);
  });

  it("never drops the batch being sent, and lets it go once it waits for a retry", () => {
    const queue = new SendQueue(10);
    queue.push(batch(5));
    const sending = queue.take()!;
    expect(queue.push(batch(5))).toBe(0);
    expect(queue.push(batch(5))).toBe(5); // the second, not the one in flight
    expect(queue.take()).toBe(sending);
    queue.release(sending);
    expect(queue.push(batch(5))).toBe(5);
    expect(queue.take()).not.toBe(sending);
  });

  it("refuses a batch larger than the bound outright", () => {
    const queue = new SendQueue(3);
    expect(queue.push(batch(4))).toBe(4);
    expect(queue.length).toBe(0);
  });

  it("forgets a delivered batch and empties on clear", () => {
    const queue = new SendQueue(10);
    queue.push(batch(2));
    queue.push(batch(3));
    queue.done(queue.take()!);
    expect(queue.pendingSamples).toBe(3);
    expect(queue.clear()).toBe(3);
    expect(queue.take()).toBeUndefined();
  });
});
