/**
 * The compiler's self-metrics (prom-client), `ebpf_operator_compile_*`. Served by whoever owns
 * the compiler: the standalone agent on its /metrics; the compile server hands them to the
 * operator over its socket, which serves them on its authenticated /metrics.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { SandboxStatus } from "./sandbox.js";

/** What a compile ended in: an object built now, one from the cache, or a failure. */
export type CompileOutcome = "compiled" | "cached" | "failed";

export class CompileMetrics {
  readonly requests: Counter<"result">;
  readonly duration: Histogram<"result">;
  readonly failures: Counter<"reason">;
  readonly queueWait: Histogram;
  readonly cacheHits: Counter;
  readonly cacheEvictions: Counter;
  readonly cacheBytes: Gauge;
  readonly running: Gauge;
  readonly queued: Gauge;
  readonly sandbox: Gauge<"mode">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: "ebpf_operator_compile_requests_total",
      help: "Compile requests by result: compiled (clang ran), cached (served from the object cache), failed.",
      labelNames: ["result"],
      registers,
    });
    this.duration = new Histogram({
      name: "ebpf_operator_compile_duration_seconds",
      help: "Time from request to result, queue wait excluded, by result.",
      labelNames: ["result"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.failures = new Counter({
      name: "ebpf_operator_compile_failures_total",
      help: "Failed compiles by reason (the error code's last part, lower-case: failed, include_refused, timeout, memory_limit, output_too_large, toolchain_missing, sandbox_unavailable).",
      labelNames: ["reason"],
      registers,
    });
    this.queueWait = new Histogram({
      name: "ebpf_operator_compile_queue_wait_seconds",
      help: "Time a compile waited for a slot (fair queue across namespaces).",
      buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 120],
      registers,
    });
    this.cacheHits = new Counter({
      name: "ebpf_operator_compile_cache_hits_total",
      help: "Compiles served from the object cache without running clang.",
      registers,
    });
    this.cacheEvictions = new Counter({
      name: "ebpf_operator_compile_cache_evictions_total",
      help: "Objects evicted from the cache (least recently used first) to stay within its size bound.",
      registers,
    });
    this.cacheBytes = new Gauge({ name: "ebpf_operator_compile_cache_bytes", help: "Bytes held by the object cache after the last store.", registers });
    this.running = new Gauge({ name: "ebpf_operator_compile_running", help: "Compiles running now.", registers });
    this.queued = new Gauge({ name: "ebpf_operator_compile_queued", help: "Compiles waiting for a slot.", registers });
    this.sandbox = new Gauge({
      name: "ebpf_operator_compile_sandbox",
      help: '1 for the sandbox clang runs in: mode="bwrap" (confined) or mode="none" (unconfined; see /status and the logs for why).',
      labelNames: ["mode"],
      registers,
    });
  }

  setSandbox(status: SandboxStatus): void {
    this.sandbox.reset();
    this.sandbox.set({ mode: status.mode }, 1);
  }

  /** One finished request; `code` is the CompileError code of a failure. */
  observe(outcome: CompileOutcome, seconds: number, code?: string): void {
    this.requests.inc({ result: outcome });
    this.duration.observe({ result: outcome }, seconds);
    if (outcome === "cached") this.cacheHits.inc();
    // EOP_ERR_COMPILE_MEMORY_LIMIT -> memory_limit
    if (outcome === "failed") this.failures.inc({ reason: (code ?? "EOP_ERR_COMPILE_FAILED").split("_").slice(3).join("_").toLowerCase() });
  }
}
