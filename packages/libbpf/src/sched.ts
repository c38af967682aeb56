import { native } from "./native.js";

/** The calling thread's scheduling class and slice, as `sched_getattr(2)` reports them. */
export interface ThreadSched {
  /** `SCHED_OTHER` 0, `SCHED_FIFO` 1, `SCHED_RR` 2, `SCHED_BATCH` 3, `SCHED_IDLE` 5, `SCHED_DEADLINE` 6. */
  policy: number;
  /** The fair-class slice in ns (Linux 6.12+; 0 on older kernels, which have no per-thread slice). */
  sliceNs: number;
}

/** The shortest and longest custom slice the kernel accepts (`sched_setattr`, Linux 6.12+). */
export const MIN_THREAD_SLICE_NS = 100_000;
export const MAX_THREAD_SLICE_NS = 100_000_000;

/**
 * Asks for a scheduler slice of `ns` for the calling thread (EEVDF's custom slice: a latency
 * request, not a larger share of the CPU). Only a `SCHED_OTHER`/`SCHED_BATCH` thread is changed;
 * its nice value is kept. Returns what the kernel reports afterwards: a kernel without custom
 * slices (before 6.12) accepts the call and ignores it, so `sliceNs !== ns` means "not applied".
 */
export function setThreadSlice(ns: number): ThreadSched {
  if (!Number.isInteger(ns) || ns < MIN_THREAD_SLICE_NS || ns > MAX_THREAD_SLICE_NS) {
    throw new RangeError(`setThreadSlice: the slice must be an integer from ${MIN_THREAD_SLICE_NS} to ${MAX_THREAD_SLICE_NS} ns, got ${ns}`);
  }
  return native().setThreadSlice(ns);
}

/** The calling thread's policy and slice. */
export function threadSched(): ThreadSched {
  return native().threadSched();
}
