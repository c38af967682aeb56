import { describe, expect, it } from "vitest";
import { FairScheduler } from "./fair-scheduler.js";

/** A task that finishes when told to, recording when it started; aborted, it fails at once (as a killed compile does). */
function gate(log: string[], name: string): { task: (waited: number, signal: AbortSignal) => Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const done = new Promise<void>((resolve) => (open = resolve));
  return {
    task: async (_waited, signal) => {
      log.push(name);
      await Promise.race([done, new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }))]);
    },
    open: () => open(),
  };
}

/** A scheduler and a `submit(name)` running a gated task for tenant `name[0]`; `gates` opens them by name. */
function harness(slots: number, perTenant: number) {
  const s = new FairScheduler(slots, perTenant);
  const log: string[] = [];
  const gates = new Map<string, ReturnType<typeof gate>>();
  const submit = (name: string) => {
    const g = gate(log, name);
    gates.set(name, g);
    return s.run(name[0] as string, g.task);
  };
  return { s, log, gates, submit };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("FairScheduler", () => {
  it("runs at most `slots` at once; a waiting tenant under its `perTenant` share goes before one above it", async () => {
    const { s, log, gates, submit } = harness(2, 1);
    const runs = ["x1", "a1", "a2", "b1"].map(submit);
    await tick();
    expect(log).toEqual(["x1", "a1"]);
    expect([s.running, s.queued]).toEqual([2, 2]);
    gates.get("x1")!.open();
    await tick();
    // a2 arrived before b1, but a already runs its share: b1 takes the freed slot.
    expect(log).toEqual(["x1", "a1", "b1"]);
    for (const name of ["a1", "b1"]) gates.get(name)!.open();
    await tick();
    expect(log).toEqual(["x1", "a1", "b1", "a2"]);
    gates.get("a2")!.open();
    await Promise.all(runs);
    expect([s.running, s.queued]).toEqual([0, 0]);
  });

  it("is work-conserving: a lone tenant uses every slot, and gives a borrowed one back at once when another tenant waits", async () => {
    const { s, log, gates, submit } = harness(2, 1);
    const runs = ["a1", "a2", "a3"].map(submit);
    await tick();
    // Nobody else waits: a runs two at once, above its share of one.
    expect(log).toEqual(["a1", "a2"]);
    expect([s.running, s.queued]).toEqual([2, 1]);
    runs.push(submit("b1"));
    await tick();
    // a2 held the borrowed slot: aborted, queued again first in a's queue; b1 starts without waiting for a1.
    expect(log).toEqual(["a1", "a2", "b1"]);
    expect(s.preemptions).toBe(1);
    expect([s.running, s.queued]).toEqual([2, 2]);
    gates.get("a1")!.open();
    await tick();
    // a's share is free again: a2 runs again (before a3), now within the share.
    expect(log).toEqual(["a1", "a2", "b1", "a2"]);
    gates.get("b1")!.open();
    await tick();
    // b is idle again: a borrows the second slot for a3.
    expect(log).toEqual(["a1", "a2", "b1", "a2", "a3"]);
    for (const name of ["a2", "a3"]) gates.get(name)!.open();
    await Promise.all(runs);
    expect([s.running, s.queued, s.preemptions]).toEqual([0, 0, 1]);
  });

  it("a preempted task that ends anyway (a result, or its own error) keeps its outcome; a task within its share is never preempted", async () => {
    const s = new FairScheduler(2, 1);
    const results: string[] = [];
    let release = (): void => undefined;
    const held = new Promise<void>((r) => (release = r));
    const stubborn = (name: string) => async () => {
      await held; // ignores its signal
      results.push(name);
      return name;
    };
    const failing = async (_waited: number, signal: AbortSignal) => {
      await held;
      expect(signal.aborted).toBe(true);
      throw new Error("a compile error of its own");
    };
    const runs = [s.run("a", stubborn("a1")), s.run("a", failing), s.run("b", stubborn("b1")), s.run("c", stubborn("c1"))];
    await tick();
    // b and c wait under their share; only a's borrowed slot can be taken back.
    expect(s.preemptions).toBe(1);
    release();
    const outcomes = await Promise.allSettled(runs);
    // The preempted task failed for its own reason: reported, not run again.
    expect(outcomes.map((o) => (o.status === "fulfilled" ? o.value : (o.reason as Error).message))).toEqual(["a1", "a compile error of its own", "b1", "c1"]);
    expect(s.preemptions).toBe(1);
  });

  it("with workConserving false, the share is a hard cap: a slot stays idle rather than go above it", async () => {
    const s = new FairScheduler(2, 1, false);
    const log: string[] = [];
    const gates = ["a1", "a2"].map((name) => gate(log, name));
    const runs = gates.map((g) => s.run("a", g.task));
    await tick();
    expect(log).toEqual(["a1"]);
    expect([s.running, s.queued]).toEqual([1, 1]);
    gates[0]!.open();
    await tick();
    expect(log).toEqual(["a1", "a2"]);
    gates[1]!.open();
    await Promise.all(runs);
    expect(s.preemptions).toBe(0);
  });

  it("serves waiting tenants in turn, not in arrival order", async () => {
    const { log, gates, submit } = harness(1, 1);
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
