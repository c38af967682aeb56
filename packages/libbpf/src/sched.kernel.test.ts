// setThreadSlice on the real kernel (6.18 here: EEVDF custom slices, Linux 6.12+), checked
// against the kernel's own account of the thread (`/proc/thread-self/sched`, `se.slice`).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MAX_THREAD_SLICE_NS, MIN_THREAD_SLICE_NS, setThreadSlice, threadSched } from "./index.js";
import { requireKernel } from "./kernel-test-support.js";

requireKernel();

/** This thread's slice as the scheduler reports it. */
function kernelSlice(): number {
  const match = /^se\.slice\s*:\s*(\d+)/m.exec(readFileSync("/proc/thread-self/sched", "utf8"));
  return Number(match![1]);
}

describe("setThreadSlice", () => {
  it("sets the calling thread's slice, keeps its policy, and reads it back", () => {
    expect(threadSched().policy).toBe(0); // SCHED_OTHER
    const before = kernelSlice();
    const wanted = before === 200_000 ? 300_000 : 200_000;
    expect(setThreadSlice(wanted)).toEqual({ policy: 0, sliceNs: wanted });
    expect(kernelSlice()).toBe(wanted);
    expect(threadSched()).toEqual({ policy: 0, sliceNs: wanted });
  });

  it("refuses slices the kernel would not take", () => {
    expect(() => setThreadSlice(MIN_THREAD_SLICE_NS - 1)).toThrow(RangeError);
    expect(() => setThreadSlice(MAX_THREAD_SLICE_NS + 1)).toThrow(/100000 to 100000000 ns/);
    expect(() => setThreadSlice(150_000.5)).toThrow(RangeError);
  });
});
