import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CONTENDED_FOR_MS, ContentionGauge, PREEMPTED_WAIT_NS, RunQueueWait } from "./cpu-contention.js";

/** A run-queue wait that reports the values it is given, in turn. */
function waits(...values: (number | undefined)[]): { read(): number | undefined } {
  let i = 0;
  return { read: () => values[i++] };
}

describe("ContentionGauge", () => {
  it("is contended for CONTENDED_FOR_MS after a wait longer than a wake-up's", () => {
    const ms = 1e6;
    const gauge = new ContentionGauge(waits(0, 0.1 * ms, PREEMPTED_WAIT_NS + 0.2 * ms, PREEMPTED_WAIT_NS + 0.3 * ms, PREEMPTED_WAIT_NS + 0.4 * ms));
    expect(gauge.contended(0)).toBe(false); // first sample: nothing to compare with
    expect(gauge.contended(2)).toBe(false); // 0.1 ms more: a wake-up
    expect(gauge.contended(4)).toBe(true); // a preemption
    expect(gauge.contended(4 + CONTENDED_FOR_MS - 1)).toBe(true);
    expect(gauge.contended(4 + CONTENDED_FOR_MS)).toBe(false);
  });

  it("is never contended when the wait cannot be read", () => {
    const gauge = new ContentionGauge(waits(undefined, undefined, undefined));
    expect([gauge.contended(0), gauge.contended(1), gauge.contended(2)]).toEqual([false, false, false]);
  });
});

describe("RunQueueWait", () => {
  it("reads the run_delay field of a schedstat file", () => {
    const dir = mkdtempSync(join(tmpdir(), "eop-schedstat-"));
    try {
      const path = join(dir, "schedstat");
      writeFileSync(path, "123456789 987654321 42\n");
      const wait = new RunQueueWait(path);
      expect(wait.read()).toBe(987654321);
      writeFileSync(path, "123456789 987654999 43\n"); // read again at offset 0: the new value
      expect(wait.read()).toBe(987654999);
      wait.close();
      expect(wait.read()).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads this thread's own wait from procfs", () => {
    const wait = new RunQueueWait();
    const first = wait.read();
    expect(Number.isInteger(first)).toBe(true);
    expect(wait.read()).toBeGreaterThanOrEqual(first!);
    wait.close();
  });

  it("is undefined without the file", () => {
    expect(new RunQueueWait("/nonexistent/schedstat").read()).toBeUndefined();
  });
});
