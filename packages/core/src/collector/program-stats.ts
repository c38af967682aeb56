/**
 * Self-observability computed from the agent's resource statuses at render time:
 *
 * - per loaded program, the kernel's run count and run time (BPF_STATS_RUN_TIME; they grow only
 *   while stats are enabled — the agent holds an `enableStats()` handle unless `--bpf-stats=false`),
 *   so `rate(run_time) / rate(run_count)` is the program's cost per event;
 * - per resource, its phase, and its last error as an info-style series with the error code.
 *
 * Programs are read through their `program` pin (one `bpf_obj_get` per generation, kept open
 * while the generation is served), so this needs nothing from the Agent but `statuses()`.
 */
import { BpfProgram, type ProgramInfo } from "@ebpf-operator/libbpf";
import type { Registry } from "prom-client";
import type { ResourceStatus } from "../agent/status.js";
import { PROGRAM_PIN } from "../loader/pin-layout.js";
import { registerDynamicMetric } from "./dynamic-metric.js";
import type { PromValue } from "./plan-samples.js";

/** Reads a program's kernel info; the default opens (and caches) its pin. */
export type ProgramInfoReader = (status: ResourceStatus & { program: NonNullable<ResourceStatus["program"]> }) => ProgramInfo | undefined;

export interface ProgramStatsOptions {
  statuses: () => ResourceStatus[];
  /** Whether run-time stats are being collected (the agent holds a stats handle). */
  statsEnabled: () => boolean;
  readInfo?: ProgramInfoReader;
}

export class ProgramStats {
  private readonly handles = new Map<string, { id: number; program: BpfProgram }>();
  private readonly readInfo: ProgramInfoReader;

  constructor(
    registry: Registry,
    private readonly options: ProgramStatsOptions,
  ) {
    this.readInfo = options.readInfo ?? ((status) => this.readPinned(status));
    registerDynamicMetric(
      registry,
      "ebpf_operator_program_run_count_total",
      "Times the resource's BPF program ran (kernel BPF stats; counts only while stats are enabled).",
      "counter",
      () => this.programSamples((info) => Number(info.runCount)),
    );
    registerDynamicMetric(
      registry,
      "ebpf_operator_program_run_time_seconds_total",
      "Time the resource's BPF program ran (kernel BPF stats); divide its rate by the run count's for the cost per event.",
      "counter",
      () => this.programSamples((info) => Number(info.runTimeNs) / 1e9),
    );
    registerDynamicMetric(registry, "ebpf_operator_agent_bpf_stats_enabled", "1 when the agent holds BPF run-time statistics on (--bpf-stats).", "gauge", () => [
      { labels: {}, value: options.statsEnabled() ? 1 : 0 },
    ]);
    registerDynamicMetric(registry, "ebpf_operator_agent_resource_phase", "1 for the resource's current phase (Pending, Running, Degraded, Failed, Unsupported).", "gauge", () =>
      options.statuses().map((s) => ({ labels: { namespace: s.namespace, ebpfmap: s.name, phase: s.phase }, value: 1 })),
    );
    registerDynamicMetric(
      registry,
      "ebpf_operator_agent_last_error_info",
      "1 while the resource's last compile, load or attach attempt failed, with the error code (docs/errors.md).",
      "gauge",
      () =>
        options
          .statuses()
          .filter((s) => s.lastError)
          .map((s) => ({ labels: { namespace: s.namespace, ebpfmap: s.name, code: s.lastError!.code ?? "unknown" }, value: 1 })),
    );
  }

  /** Closes the program handles. */
  close(): void {
    for (const { program } of this.handles.values()) program.close();
    this.handles.clear();
  }

  private programSamples(pick: (info: ProgramInfo) => number): PromValue[] {
    const out: PromValue[] = [];
    const live = new Set<string>();
    for (const status of this.options.statuses()) {
      const program = status.program;
      if (!program || (status.phase !== "Running" && status.phase !== "Degraded")) continue;
      live.add(program.pinDir);
      const info = this.readInfo({ ...status, program });
      if (info) out.push({ labels: { namespace: status.namespace, ebpfmap: status.name, program: info.name }, value: pick(info) });
    }
    this.prune(live);
    return out;
  }

  private readPinned(status: Parameters<ProgramInfoReader>[0]): ProgramInfo | undefined {
    const { pinDir, id } = status.program;
    let handle = this.handles.get(pinDir);
    try {
      if (!handle || handle.id !== id) {
        handle?.program.close();
        handle = { id, program: BpfProgram.openPinned(`${pinDir}/${PROGRAM_PIN}`) };
        this.handles.set(pinDir, handle);
      }
      return handle.program.info();
    } catch {
      // Unpinned between the status and the read (a swap in progress): no sample this time.
      handle?.program.close();
      this.handles.delete(pinDir);
      return undefined;
    }
  }

  private prune(live: ReadonlySet<string>): void {
    for (const [dir, handle] of this.handles) {
      if (live.has(dir)) continue;
      handle.program.close();
      this.handles.delete(dir);
    }
  }
}
