/**
 * Where the scrape target's event-loop stalls come from (a diagnostic preload, not part of the
 * benchmark's figures): `EOP_BENCH_TARGET_ARGS="--max-semi-space-size=2 --import
 * $PWD/bench/src/stall-probe.mjs" EOP_BENCH_ONLY=... node bench/dist/scrape.js`. A 1 ms timer
 * marks every turn of the event loop that reaches the timers phase; for each begin/end window of
 * the benchmark it prints the longest gaps between two marks, each split into the main
 * thread's CPU time and its run-queue wait (/proc/<pid>/task/<pid>/schedstat: runnable but not
 * running), with the GC pauses (perf_hooks "gc" entries) and, with EOP_PROBE_HOOKS=1, the
 * callbacks over 1.5 ms (async_hooks; costs CPU) that overlap it. The rest of a gap is time the
 * thread slept (blocked). The wait is exact (the kernel adds it when the thread gets a CPU), the
 * CPU time only to a scheduler tick (4 ms here): schedstat shows a running thread's time as of
 * the kernel's last update (a tick or a switch), so "run 4.0" in a 9 ms gap may be less.
 *
 * EOP_PROBE_THREADS=1 also reads every other thread's schedstat at each mark (costs the main
 * thread ~2-5 % CPU) and prints, per gap, the CPU time the agent's other threads ran in it:
 * `v8` = the five threads Node 20 starts right after the main one (V8's platform: GC helpers,
 * concurrent marking, compilers), `pool` = the later ones (libuv's thread pool: the map read,
 * zlib; checked with a pbkdf2 job and an allocation loop in a bare node). Each gap is placed in its window (`@` ms from the window's begin) and, for
 * a scrape, against the request (`req+` ms from the request's arrival, `end-` ms before the
 * response finished).
 *
 * EOP_PROBE_DUMP=<file> appends each window's longest gaps as a JSON line (`mono`: the gap's
 * end on CLOCK_MONOTONIC in µs, the clock of `--cpu-prof` timestamps, to find what ran in it).
 */
import asyncHooks from "node:async_hooks";
import { Buffer } from "node:buffer";
import diagnosticsChannel from "node:diagnostics_channel";
import fs from "node:fs";
import { PerformanceObserver, performance } from "node:perf_hooks";
import { setInterval } from "node:timers";
import process from "node:process";

const text = Buffer.alloc(128);
/** [ms on a CPU, ms runnable and waiting] of a thread so far, from its open schedstat file. */
function sched(fd) {
  const n = fs.readSync(fd, text, 0, text.length, 0);
  const [run, wait] = text.toString("latin1", 0, n).split(" ");
  return [Number(run) / 1e6, Number(wait) / 1e6];
}
const mainFd = fs.openSync(`/proc/${process.pid}/task/${process.pid}/schedstat`, "r");

const threads = process.env.EOP_PROBE_THREADS === "1";
/** Other threads: tid -> { fd, kind, run }. */
const others = new Map();
/** Node 20 starts V8's platform threads (a delayed-task scheduler and 4 workers) right after the main thread. */
const PLATFORM_THREADS = 5;
function refreshThreads() {
  const tids = new Set(fs.readdirSync(`/proc/${process.pid}/task`));
  for (const [tid, t] of others) {
    if (tids.has(tid)) continue;
    fs.closeSync(t.fd);
    others.delete(tid);
  }
  const sorted = [...tids].sort((a, b) => Number(a) - Number(b));
  for (const [index, tid] of sorted.entries()) {
    if (tid === String(process.pid) || others.has(tid)) continue;
    try {
      const fd = fs.openSync(`/proc/${process.pid}/task/${tid}/schedstat`, "r");
      others.set(tid, { fd, kind: index <= PLATFORM_THREADS ? "v8" : "pool", run: sched(fd)[0] });
    } catch {
      // gone already
    }
  }
}
/** CPU ms each kind of other thread ran since the last call. */
function otherRun() {
  const out = { v8: 0, pool: 0 };
  for (const t of others.values()) {
    let run;
    try {
      run = sched(t.fd)[0];
    } catch {
      continue;
    }
    out[t.kind] += run - t.run;
    t.run = run;
  }
  return out;
}
if (threads) {
  refreshThreads();
  setInterval(refreshThreads, 200).unref();
}

/** CLOCK_MONOTONIC in µs: the clock of a `--cpu-prof` profile's timestamps. */
const monoUs = () => Number(process.hrtime.bigint() / 1000n);
const dump = process.env.EOP_PROBE_DUMP;

let gaps = [];
let gcs = [];
let callbacks = [];
let requests = [];
let windowStart = performance.now();
let last = performance.now();
let [lastRun, lastWait] = sched(mainFd);
setInterval(() => {
  const now = performance.now();
  const [run, wait] = sched(mainFd);
  const other = threads ? otherRun() : undefined;
  if (now - last > 3) gaps.push({ start: last, end: now, gap: now - last, run: run - lastRun, wait: wait - lastWait, other, mono: monoUs() });
  last = now;
  lastRun = run;
  lastWait = wait;
}, 1).unref();

new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ start: e.startTime, ms: e.duration, kind: e.detail?.kind });
}).observe({ entryTypes: ["gc"] });

const open = new Map();
diagnosticsChannel.subscribe("http.server.request.start", ({ response }) => open.set(response, performance.now()));
diagnosticsChannel.subscribe("http.server.response.finish", ({ response }) => {
  const start = open.get(response);
  open.delete(response);
  if (start !== undefined) requests.push({ start, end: performance.now() });
});

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
const place = (g) => {
  const r = requests.find((q) => q.start <= g.end && q.end >= g.start);
  const at = `@${(g.start - windowStart).toFixed(0)}`;
  return r ? `${at} req+${(g.start - r.start).toFixed(0)} end-${(r.end - g.end).toFixed(0)}` : at;
};
let window = 0;
process.on("message", (message) => {
  if (message.type === "begin") {
    gaps = [];
    gcs = [];
    callbacks = [];
    requests = [];
    windowStart = performance.now();
  } else if (message.type === "end") {
    window++;
    const top = gaps.sort((a, b) => b.gap - a.gap).slice(0, Number(process.env.EOP_PROBE_TOP ?? 4));
    const lines = top.map((g) => {
      const gc = overlapping(gcs, g).map((x) => `${GC_KINDS[x.kind] ?? x.kind}:${x.ms.toFixed(1)}`);
      const cb = overlapping(callbacks, g).map((x) => `${x.type}:${x.ms.toFixed(1)}`);
      const other = g.other ? ` v8 ${g.other.v8.toFixed(1)} pool ${g.other.pool.toFixed(1)};` : "";
      return `  gap ${g.gap.toFixed(1)} ms ${place(g)}: run ${g.run.toFixed(1)}, wait ${g.wait.toFixed(1)};${other} gc [${gc.join(" ")}] callbacks [${cb.join(" ")}]`;
    });
    if (dump) fs.appendFileSync(dump, `${JSON.stringify({ window, gaps: top, gcs, requests })}\n`);
    const gcMs = gcs.reduce((sum, x) => sum + x.ms, 0);
    const req = requests.map((r) => `${(r.end - r.start).toFixed(0)} ms`).join(" ");
    process.stderr.write(
      `stall-probe window ${window}: ${gaps.length} gaps over 3 ms, ${gcs.length} GCs (${gcMs.toFixed(1)} ms)${req ? `, request ${req}` : ""}\n${lines.join("\n")}\n`,
    );
  }
});
