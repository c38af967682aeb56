import { describe, expect, it } from "vitest";
import { FairScheduler } from "./fair-scheduler.js";

/** A task that finishes when told to, recording when it started. */
function gate(log: string[], name: string): { task: () => Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const done = new Promise<void>((resolve) => (open = resolve));
  return {
    task: async () => {
      log.push(name);
      await done;
    },
    open: () => open(),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("FairScheduler", () => {
  it("runs at most `slots` at once and at most `perTenant` of one tenant", async () => {
    const s = new FairScheduler(2, 1);
    const log: string[] = [];
    const a1 = gate(log, "a1");
    const a2 = gate(log, "a2");
    const b1 = gate(log, "b1");
    const runs = [s.run("a", a1.task), s.run("a", a2.task), s.run("b", b1.task)];
    await tick();
    // a2 waits for a1 although a slot is free: the per-tenant cap; b1 takes the free slot.
    expect(log).toEqual(["a1", "b1"]);
    expect([s.running, s.queued]).toEqual([2, 1]);
    a1.open();
    await tick();
    expect(log).toEqual(["a1", "b1", "a2"]);
    b1.open();
    a2.open();
    await Promise.all(runs);
    expect([s.running, s.queued]).toEqual([0, 0]);
  });

  it("serves waiting tenants in turn, not in arrival order", async () => {
    const s = new FairScheduler(1, 1);
    const log: string[] = [];
    const gates = new Map<string, ReturnType<typeof gate>>();
    const submit = (name: string) => {
      const g = gate(log, name);
      gates.set(name, g);
      return s.run(name[0] as string, g.task);
    };
    // Tenant a floods the queue first; b and c arrive later.
    const runs = ["a1", "a2", "a3", "b1", "b2", "c1"].map(submit);
    for (const name of ["a1", "b1", "c1", "a2", "b2", "a3"]) {
      await tick();
      expect(log.at(-1)).toBe(name);
      gates.get(name)!.open();
    }
    await Promise.all(runs);
    expect(log).toEqual(["a1", "b1", "c1", "a2", "b2", "a3"]);
  });

  it("reports the wait and survives a throwing task", async () => {
    const s = new FairScheduler(1, 1);
    const log: string[] = [];
    const first = gate(log, "first");
    const running = s.run("a", first.task);
    let waited = -1;
    const second = s.run("b", async (ms) => {
      waited = ms;
      throw new Error("boom");
    });
    await new Promise((r) => setTimeout(r, 30));
    first.open();
    await running;
    await expect(second).rejects.toThrow("boom");
    expect(waited).toBeGreaterThanOrEqual(25);
    await expect(s.run("c", async () => 7)).resolves.toBe(7);
  });
});
