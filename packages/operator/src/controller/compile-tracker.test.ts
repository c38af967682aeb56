import { describe, expect, it } from "vitest";
import { CompileTracker } from "./compile-tracker.js";

class Terminal extends Error {}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = () => new Promise((r) => setImmediate(r));

describe("CompileTracker", () => {
  it("starts a compile once, reports it running, then hands its success out once", async () => {
    const settled: string[] = [];
    const t = new CompileTracker<string>(
      (key) => settled.push(key),
      (e) => e instanceof Terminal,
    );
    const d = deferred<string>();
    let runs = 0;
    const run = () => {
      runs++;
      return d.promise;
    };
    expect(t.poll("ns/a", "code", run)).toBeUndefined();
    expect(t.poll("ns/a", "code", run)).toBeUndefined();
    expect(runs).toBe(1);
    d.resolve("object");
    await flush();
    expect(settled).toEqual(["ns/a"]);
    expect(t.poll("ns/a", "code", run)).toEqual({ ok: true, value: "object" });
    // Handed out: the next poll (a later generation) compiles again (a cache hit in the compiler).
    expect(t.poll("ns/a", "code", run)).toBeUndefined();
    expect(runs).toBe(2);
  });

  it("remembers the program's own failure until the code changes; forgets a transient one", async () => {
    const t = new CompileTracker<string>(
      () => undefined,
      (e) => e instanceof Terminal,
    );
    let runs = 0;
    const failing = (error: Error) => () => {
      runs++;
      return Promise.reject(error);
    };
    t.poll("ns/bomb", "bomb", failing(new Terminal("memory limit")));
    await flush();
    for (let i = 0; i < 3; i++) expect(t.poll("ns/bomb", "bomb", failing(new Terminal("x")))).toMatchObject({ ok: false, keep: true });
    expect(runs).toBe(1);
    expect(t.poll("ns/bomb", "fixed", failing(new Error("unreachable")))).toBeUndefined();
    expect(runs).toBe(2);
    await flush();
    expect(t.poll("ns/bomb", "fixed", failing(new Error("x")))).toMatchObject({ ok: false, keep: false });
    // Transient: taken once, then retried.
    expect(t.poll("ns/bomb", "fixed", failing(new Error("again")))).toBeUndefined();
    expect(runs).toBe(3);
  });

  it("re-queues only for the compile still current, and forgets deleted resources", async () => {
    const settled: string[] = [];
    const t = new CompileTracker<string>(
      (key) => settled.push(key),
      () => true,
    );
    const old = deferred<string>();
    t.poll("ns/a", "v1", () => old.promise);
    t.poll("ns/a", "v2", () => Promise.resolve("v2-object"));
    old.resolve("v1-object");
    await flush();
    expect(settled).toEqual(["ns/a"]);
    expect(t.poll("ns/a", "v2", () => Promise.resolve("unused"))).toEqual({ ok: true, value: "v2-object" });
    t.poll("ns/b", "x", () => Promise.reject(new Terminal()));
    await flush();
    expect(t.size).toBe(1);
    t.forget("ns/b");
    expect(t.size).toBe(0);
  });
});
