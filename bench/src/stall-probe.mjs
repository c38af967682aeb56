/**
 * Where the scrape target's event-loop stalls come from (a diagnostic preload, not part of the
 * benchmark's figures): `EOP_BENCH_TARGET_ARGS="--max-semi-space-size=2 --import
 * $PWD/bench/src/stall-probe.mjs" EOP_BENCH_ONLY=... node bench/dist/scrape.js`. A 1 ms timer
 * marks every turn of the event loop that reaches the timers phase; for each begin/end window of
 * the benchmark it prints the longest gaps between two marks, each split into the main
 * thread's CPU time and its run-queue wait (/proc/<pid>/task/<pid>/schedstat: runnable but not
 * running), with the GC pauses (perf_hooks "gc" entries) and, with EOP_PROBE_HOOKS=1, the
 * callbacks over 1.5 ms (async_hooks; costs CPU) that overlap it. The rest of a gap is time the
 * thread slept (blocked).
 */
import asyncHooks from "node:async_hooks";
import { Buffer } from "node:buffer";
import fs from "node:fs";
import { PerformanceObserver, performance } from "node:perf_hooks";
import { setInterval } from "node:timers";
import process from "node:process";

const fd = fs.openSync(`/proc/${process.pid}/task/${process.pid}/schedstat`, "r");
const text = Buffer.alloc(128);
/** [ms on a CPU, ms runnable and waiting] of the main thread so far. */
function sched() {
  const n = fs.readSync(fd, text, 0, text.length, 0);
  const [run, wait] = text.toString("latin1", 0, n).split(" ");
  return [Number(run) / 1e6, Number(wait) / 1e6];
}

let gaps = [];
let gcs = [];
let callbacks = [];
let last = performance.now();
let [lastRun, lastWait] = sched();
setInterval(() => {
  const now = performance.now();
  const [run, wait] = sched();
  if (now - last > 3) gaps.push({ start: last, end: now, gap: now - last, run: run - lastRun, wait: wait - lastWait });
  last = now;
  lastRun = run;
  lastWait = wait;
}, 1).unref();

new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ start: e.startTime, ms: e.duration, kind: e.detail?.kind });
}).observe({ entryTypes: ["gc"] });

if (process.env.EOP_PROBE_HOOKS === "1") {
  const types = new Map();
  const starts = new Map();
  asyncHooks
    .createHook({
      init(id, type) {
        if (type !== "PROMISE") types.set(id, type);
      },
      before(id) {
        if (types.has(id)) starts.set(id, performance.now());
      },
      after(id) {
        const start = starts.get(id);
        if (start === undefined) return;
        starts.delete(id);
        const ms = performance.now() - start;
        if (ms > 1.5) callbacks.push({ start, ms, type: types.get(id) });
      },
      destroy(id) {
        types.delete(id);
        starts.delete(id);
      },
    })
    .enable();
}

const GC_KINDS = { 1: "scavenge", 2: "minor-ms", 4: "mark-compact", 8: "incremental", 16: "weak-cb" };
const overlapping = (list, gap) => list.filter((x) => x.start < gap.end && x.start + x.ms > gap.start);
let window = 0;
process.on("message", (message) => {
  if (message.type === "begin") {
    gaps = [];
    gcs = [];
    callbacks = [];
  } else if (message.type === "end") {
    window++;
    const top = gaps.sort((a, b) => b.gap - a.gap).slice(0, 4);
    const lines = top.map((g) => {
      const gc = overlapping(gcs, g).map((x) => `${GC_KINDS[x.kind] ?? x.kind}:${x.ms.toFixed(1)}`);
      const cb = overlapping(callbacks, g).map((x) => `${x.type}:${x.ms.toFixed(1)}`);
      return `  gap ${g.gap.toFixed(1)} ms: run ${g.run.toFixed(1)}, wait ${g.wait.toFixed(1)}; gc [${gc.join(" ")}] callbacks [${cb.join(" ")}]`;
    });
    const gcMs = gcs.reduce((sum, x) => sum + x.ms, 0);
    process.stderr.write(`stall-probe window ${window}: ${gaps.length} gaps over 3 ms, ${gcs.length} GCs (${gcMs.toFixed(1)} ms)\n${lines.join("\n")}\n`);
  }
});
