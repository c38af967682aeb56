/**
 * Self-observability computed from the agent's resource statuses at render time:
 *
 * - per loaded program, the kernel's run count and run time (BPF_STATS_RUN_TIME; they grow only
 *   while stats are enabled — the agent holds an `enableStats()` handle unless `--bpf-stats=false`),
 *   so `rate(run_time) / rate(run_count)` is the program's cost per event;
 * - per resource, its phase, and its last error as an info-style series with the error code.
 *
 * Programs are read through their `program` pin, opened and closed at each render (a handle kept
 * open would keep a replaced or deleted program alive in the kernel until the next scrape), so
 * this needs nothing from the Agent but `statuses()`.
 */
import { BpfProgram, type ProgramInfo } from "@ebpf-operator/libbpf";
import type { ResourceStatus } from "../api/resource-status.js";
import { PROGRAM_PIN } from "../loader/pin-layout.js";
import { inScope, type Row, type Scope } from "../scrape/family.js";
import { ComputedFamily, type MetricRegistry } from "../scrape/registry.js";

/** One program of a resource: its id and where it is pinned. */
export interface PinnedProgramRef {
  id: number;
  pinDir: string;
  /** The pin's name in `pinDir` (`program`, or `prog_<function>` for several programs). */
  pin: string;
}

/** Reads a program's kernel info; the default opens its pin. */
export type ProgramInfoReader = (program: PinnedProgramRef) => ProgramInfo | undefined;

export interface ProgramStatsOptions {
  statuses: () => ResourceStatus[];
  /** Whether run-time stats are being collected (the agent holds a stats handle). */
  statsEnabled: () => boolean;
  readInfo?: ProgramInfoReader;
}

export class ProgramStats {
  private readonly readInfo: ProgramInfoReader;

  constructor(
    registry: MetricRegistry,
    private readonly options: ProgramStatsOptions,
  ) {
    this.readInfo = options.readInfo ?? readPinned;
    const families = [
      new ComputedFamily(
        "ebpf_operator_program_run_count_total",
        "Times the resource's BPF program ran (kernel BPF stats; counts only while stats are enabled).",
        "counter",
        (scope) => this.programRows(scope, "ebpf_operator_program_run_count_total", (info) => Number(info.runCount)),
      ),
      new ComputedFamily(
        "ebpf_operator_program_run_time_seconds_total",
        "Time the resource's BPF program ran (kernel BPF stats); divide its rate by the run count's for the cost per event.",
        "counter",
        (scope) => this.programRows(scope, "ebpf_operator_program_run_time_seconds_total", (info) => Number(info.runTimeNs) / 1e9),
      ),
      new ComputedFamily("ebpf_operator_agent_bpf_stats_enabled", "1 when the agent holds BPF run-time statistics on (--bpf-stats).", "gauge", () => [
        { name: "ebpf_operator_agent_bpf_stats_enabled", namespace: undefined, labels: {}, value: options.statsEnabled() ? 1 : 0 },
      ]),
      new ComputedFamily(
        "ebpf_operator_agent_resource_phase",
        "1 for the resource's current phase (Pending, Running, Degraded, Failed, Unsupported).",
        "gauge",
        () =>
          options.statuses().map((s) => ({
            name: "ebpf_operator_agent_resource_phase",
            namespace: s.namespace,
            labels: { namespace: s.namespace, ebpfmap: s.name, phase: s.phase },
            value: 1,
          })),
      ),
      new ComputedFamily(
        "ebpf_operator_agent_last_error_info",
        "1 while the resource's last compile, load or attach attempt failed, with the error code (docs/errors.md).",
        "gauge",
        () =>
          options
            .statuses()
            .filter((s) => s.lastError)
            .map((s) => ({
              name: "ebpf_operator_agent_last_error_info",
              namespace: s.namespace,
              labels: { namespace: s.namespace, ebpfmap: s.name, code: s.lastError!.code ?? "unknown" },
              value: 1,
            })),
      ),
    ];
    for (const family of families) registry.register(family);
  }

  /** Opens only the programs in the scope: a tenant's scrape costs its own programs. */
  private programRows(scope: Scope | undefined, name: string, pick: (info: ProgramInfo) => number): Row[] {
    const out: Row[] = [];
    for (const status of this.options.statuses()) {
      if (!inScope(scope, status.namespace)) continue;
      const program = status.program;
      if (!program || (status.phase !== "Running" && status.phase !== "Degraded")) continue;
      // Every program of a several-program resource has its own series (label `program`).
      const refs = status.programs?.map((p) => ({ id: p.id, pinDir: program.pinDir, pin: p.pin })) ?? [
        { id: program.id, pinDir: program.pinDir, pin: PROGRAM_PIN },
      ];
      for (const ref of refs) {
        const info = this.readInfo(ref);
        if (info)
          out.push({ name, namespace: status.namespace, labels: { namespace: status.namespace, ebpfmap: status.name, program: info.name }, value: pick(info) });
      }
    }
    return out;
  }
}

function readPinned(ref: PinnedProgramRef): ProgramInfo | undefined {
  let program: BpfProgram | undefined;
  try {
    program = BpfProgram.openPinned(`${ref.pinDir}/${ref.pin}`);
    const info = program.info();
    // Only the program the status names (a re-created pin may hold another).
    return info.id === ref.id ? info : undefined;
  } catch {
    // Unpinned between the status and the read (a swap or removal in progress): no sample this time.
    return undefined;
  } finally {
    program?.close();
  }
}
