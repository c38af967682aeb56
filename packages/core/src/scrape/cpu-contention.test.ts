import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CONTENDED_WAIT_SHARE, CONTENTION_WINDOW_MS, ContentionGauge, RunQueueWait } from "./cpu-contention.js";

/** A run-queue wait that reports the values it is given, in turn. */
function waits(...values: (number | undefined)[]): { read(): number | undefined } {
  let i = 0;
  return { read: () => values[i++] };
}

describe("ContentionGauge", () => {
  const ms = 1e6;

  it("is contended for the window after one that spent a tenth or more waiting for a CPU", () => {
    // Windows of 100 ms from t=0: 12 ms of wait in the first, 3 ms in the second.
    const gauge = new ContentionGauge(waits(0, 4 * ms, 12 * ms, 13 * ms, 15 * ms, 15 * ms), 0);
    expect(gauge.contended(0)).toBe(false); // first sample
    expect(gauge.contended(50)).toBe(false); // the first window is still open
    expect(gauge.contended(CONTENTION_WINDOW_MS)).toBe(true); // 12 ms in 100: contended
    expect(gauge.contended(150)).toBe(true); // the verdict holds through the window
    expect(gauge.contended(CONTENTION_WINDOW_MS * 2)).toBe(false); // 3 ms in 100
    expect(gauge.contended(CONTENTION_WINDOW_MS * 3)).toBe(false); // none
  });

  it("takes the share over the window's real length", () => {
    // One window that lasted 1 s (no slices between scrapes) with 50 ms of wait: 5%.
    const gauge = new ContentionGauge(waits(0, 50 * ms), 0);
    gauge.contended(0);
    expect(gauge.contended(1000)).toBe(false);
    expect(CONTENDED_WAIT_SHARE).toBe(0.1);
  });

  it("is never contended when the wait cannot be read", () => {
    const gauge = new ContentionGauge(waits(undefined, undefined, undefined), 0);
    expect([gauge.contended(0), gauge.contended(100), gauge.contended(200)]).toEqual([false, false, false]);
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
