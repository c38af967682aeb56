/**
 * Resting between the slices of a long loop while this thread competes for its CPU.
 *
 * On a node whose CPUs are all busy, a thread that runs a long loop in slices (rendering a
 * 1M-entry map: ~0.5 s of CPU) never sleeps, so the scheduler only takes it off its CPU at a
 * tick (4 ms at HZ=250) and gives it back one or two ticks later: the event loop then stalls
 * 9-13 ms at a time (issue 16, docs/benchmarks.md). A short sleep after each slice changes two
 * things. The thread leaves the run queue and is placed again when it wakes, so it can move to
 * the CPU with the shorter queue; and it wakes with an early deadline (the 0.1 ms slice the
 * agent asks for, `host/sched-slice.ts`), so it preempts a CPU-bound neighbour at once instead
 * of waiting for a tick. On 2 vCPUs under two CPU hogs the longest stall of a 1M scrape was
 * 8.1-8.7 ms (hash/struct) and 5.2-7.1 ms (array) against a median of 9.0 without, for 7-9% longer
 * scrapes (docs/benchmarks.md, "Resting between slices"; longer rests cost more).
 *
 * The sleep costs wall time, so it is taken only while the thread has lately waited for a CPU:
 * its own run-queue wait, `run_delay` in `/proc/thread-self/schedstat` (CONFIG_SCHED_INFO), read
 * with one pread per slice (a few µs) from an fd kept open: at least a tenth of the last 100 ms
 * spent waiting ({@link ContentionGauge}). On an idle machine it never rests. The sleep is
 * `Atomics.wait` on a private cell: a futex wait that blocks this thread only, no timer, no turn
 * of the event loop (the caller yields right after it).
 */
import { closeSync, openSync, readSync } from "node:fs";

/** How long a contended thread sleeps after each slice (µs). */
export const REST_US = restFromEnv() ?? 100;
/** The thread is contended while it spent at least this share of the last window waiting for a CPU. */
export const CONTENDED_WAIT_SHARE = 0.1;
/** The window over which that share is taken (ms). */
export const CONTENTION_WINDOW_MS = 100;

/**
 * `EOP_CONTENDED_REST_US` (µs, 0 = never rest) overrides {@link REST_US}: for A/B runs of the
 * scrape bench on one build; not a setting to tune in production.
 */
function restFromEnv(): number | undefined {
  const raw = process.env.EOP_CONTENDED_REST_US;
  if (raw === undefined || !/^\d{1,6}$/.test(raw)) return undefined;
  return Number(raw);
}

/** The calling thread's run-queue wait, from its schedstat file (kept open). */
export class RunQueueWait {
  private fd: number | undefined;
  private readonly text = Buffer.alloc(96);

  /** `path`: a schedstat file ("cpu_ns run_delay_ns timeslices"); the calling thread's by default. */
  constructor(path = "/proc/thread-self/schedstat") {
    try {
      this.fd = openSync(path, "r");
    } catch {
      this.fd = undefined; // no procfs or no CONFIG_SCHED_INFO: never contended
    }
  }

  /** Total ns this thread has waited for a CPU; undefined when it cannot be read. */
  read(): number | undefined {
    if (this.fd === undefined) return undefined;
    try {
      const n = readSync(this.fd, this.text, 0, this.text.length, 0);
      const second = this.text.toString("latin1", 0, n).split(" ")[1];
      const ns = Number(second);
      return Number.isFinite(ns) ? ns : undefined;
    } catch {
      this.close();
      return undefined;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Decides, slice by slice, whether the thread is contended: whether it spent at least
 * {@link CONTENDED_WAIT_SHARE} of the last window of {@link CONTENTION_WINDOW_MS} or more waiting
 * for a CPU. A share, not any one wait: beside CPU hogs the main thread waits a third to half of
 * the time; beside a scraper on a machine otherwise idle it waits now and then, and resting there
 * made a quiet 1M scrape ~70% longer (any wait over 0.5 ms within 100 ms counted at first).
 */
export class ContentionGauge {
  private lastWaitNs: number | undefined;
  private windowStart: number;
  private windowWaitNs = 0;
  private contendedNow = false;

  /** `now`: when the first window starts (ms, performance.now()). */
  constructor(
    private readonly wait: { read(): number | undefined },
    now = performance.now(),
  ) {
    this.windowStart = now;
  }

  /** Samples the wait; `now` in ms (performance.now()). The verdict changes once per window. */
  contended(now: number): boolean {
    const waitNs = this.wait.read();
    if (waitNs === undefined) return false;
    if (this.lastWaitNs !== undefined) this.windowWaitNs += waitNs - this.lastWaitNs;
    this.lastWaitNs = waitNs;
    const windowMs = now - this.windowStart;
    if (windowMs >= CONTENTION_WINDOW_MS) {
      this.contendedNow = this.windowWaitNs >= windowMs * 1e6 * CONTENDED_WAIT_SHARE;
      this.windowStart = now;
      this.windowWaitNs = 0;
    }
    return this.contendedNow;
  }
}

let gauge: ContentionGauge | undefined;
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Between two slices of a long loop: sleeps {@link REST_US} if this thread has lately waited
 * for a CPU, else returns at once. Returns whether it slept.
 */
export function restIfContended(): boolean {
  if (REST_US === 0) return false;
  gauge ??= new ContentionGauge(new RunQueueWait());
  if (!gauge.contended(performance.now())) return false;
  Atomics.wait(sleepCell, 0, 0, REST_US / 1000);
  return true;
}
