/**
 * The agent's main thread asks the kernel for a 0.1 ms scheduler slice at start-up (EEVDF's
 * custom slice, `sched_setattr`, Linux 6.12+). It is a latency request, not a larger share of the
 * CPU: the thread gets no more CPU time than before, but its virtual deadlines come early, so
 * when it wakes (a request, a timer, the end of a rest between render slices) it preempts a
 * CPU-bound neighbour at once instead of waiting for that neighbour's slice to end at a
 * scheduler tick (4 ms at HZ=250). With the rest between slices of a long loop
 * (`scrape/cpu-contention.ts`) it lowered the longest event-loop stall of a 1M-entry scrape on
 * two busy vCPUs from ~9 ms to 5-8.7 ms, and the idle floor from ~4.6 to ~2-3 ms (issue 16,
 * docs/benchmarks.md). Only the main thread (reset-on-fork: threads and processes it starts keep
 * the default): it is the one whose waits are the event loop's.
 *
 * A kernel without custom slices takes the call and ignores it; that is detected (the slice read
 * back is not the one asked for) and logged, and the agent runs as before.
 */
import { setThreadSlice } from "@ebpf-operator/libbpf";
import { describeError } from "../errors.js";
import type { Logger } from "../logger.js";

/** The slice the main thread asks for: the shortest the kernel accepts. */
export const MAIN_THREAD_SLICE_NS = sliceFromEnv() ?? 100_000;

/**
 * `EOP_MAIN_THREAD_SLICE_NS` (0 = leave the default) overrides {@link MAIN_THREAD_SLICE_NS}: for
 * A/B runs of the scrape bench on one build; not a setting to tune in production.
 */
function sliceFromEnv(): number | undefined {
  const raw = process.env.EOP_MAIN_THREAD_SLICE_NS;
  if (raw === undefined || !/^\d{1,9}$/.test(raw)) return undefined;
  return Number(raw);
}

export type MainThreadSlice = { applied: true; sliceNs: number } | { applied: false; reason: "disabled" | "unsupported" | "policy" | "error"; detail?: string };

const POLICY_NAMES: Record<number, string> = { 1: "SCHED_FIFO", 2: "SCHED_RR", 5: "SCHED_IDLE", 6: "SCHED_DEADLINE" };

/** Call on the main thread. Never throws: a failure is logged and the agent goes on. */
export function applyMainThreadSlice(logger: Logger, sliceNs = MAIN_THREAD_SLICE_NS): MainThreadSlice {
  if (sliceNs === 0) return { applied: false, reason: "disabled" };
  let result: MainThreadSlice;
  try {
    const after = setThreadSlice(sliceNs);
    if (after.policy !== 0 && after.policy !== 3) {
      result = { applied: false, reason: "policy", detail: POLICY_NAMES[after.policy] ?? `policy ${after.policy}` };
    } else if (after.sliceNs !== sliceNs) {
      result = { applied: false, reason: "unsupported", detail: `the kernel reports a slice of ${after.sliceNs} ns` };
    } else {
      result = { applied: true, sliceNs };
    }
  } catch (error) {
    result = { applied: false, reason: "error", detail: describeError(error) };
  }
  if (result.applied) logger.debug({ sliceNs }, "main thread scheduler slice set");
  else if (result.reason === "unsupported")
    logger.info(
      { detail: result.detail },
      "this kernel has no per-thread scheduler slices (Linux 6.12+): the main thread keeps the default slice, and event-loop stalls on a busy node are longer",
    );
  else if (result.reason === "policy")
    logger.info({ policy: result.detail }, "the main thread runs under a non-fair scheduling policy: its slice is left as it is");
  else if (result.reason === "error") logger.warn({ error: result.detail }, "could not set the main thread's scheduler slice; going on with the default");
  return result;
}
