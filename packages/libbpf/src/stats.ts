import { enumValue } from "./enums.js";
import { errnoCode } from "./errors.js";
import { native } from "./native.js";

/**
 * The number of possible CPUs (`libbpf_num_possible_cpus`), which is the number of value slots
 * of per-CPU maps — possibly more than the online CPUs.
 */
export function possibleCpus(): number {
  return native().possibleCpus();
}

/**
 * Gives memory the process no longer uses back to the kernel: a V8 memory-pressure GC (which
 * releases the heap's free pages) and `malloc_trim(0)` over every glibc arena. Blocks the
 * thread for the GC (tens of ms for a heap of a few tens of MiB): call it at a quiet moment,
 * e.g. after a burst of object loads, not per request. Returns whether glibc released memory.
 */
export function releaseFreeMemory(): boolean {
  return native().releaseFreeMemory();
}

/** Handle returned by {@link enableStats}. */
export interface StatsHandle extends Disposable {
  /** Stops this request for statistics. Idempotent. */
  close(): void;
}

/**
 * Turns on run-time statistics for all BPF programs (`bpf_enable_stats(BPF_STATS_RUN_TIME)`,
 * kernel 5.8+, needs CAP_SYS_ADMIN): `ProgramInfo.runCount`/`runTimeNs` grow while at least
 * one returned handle is open anywhere on the system. Collecting stats costs a few ns per
 * program run. The handle owns an fd; close it (or use `using`) when done.
 */
export function enableStats(): StatsHandle {
  let handle: ReturnType<ReturnType<typeof native>["enableStats"]> | undefined = native().enableStats();
  const close = (): void => {
    handle?.close();
    handle = undefined;
  };
  return { close, [Symbol.dispose]: close };
}

/**
 * Whether the running kernel supports a program type (`libbpf_probe_bpf_prog_type`), named as
 * libbpf names it (`xdp`, `kprobe`, `cgroup_skb`, ...). Types libbpf cannot probe (e.g.
 * `tracing`, `lsm`, which need attach BTF) report false. Unknown names throw a TypeError. A
 * process that may not use bpf() (no CAP_BPF/CAP_SYS_ADMIN) gets a LibbpfError with errno EPERM,
 * not a false "unsupported".
 */
export function probeProgramType(type: string): boolean {
  return native().probeProgType(enumValue("prog", type));
}

/** Whether the running kernel supports a map type (`libbpf_probe_bpf_map_type`), e.g. `ringbuf`; EPERM as above. */
export function probeMapType(type: string): boolean {
  return native().probeMapType(enumValue("map", type));
}

/** The answer of {@link probeTracing}. */
export interface TracingProbe {
  supported: boolean;
  /** errno name of the failed probe load (`EPERM`, `ENOENT`...), absent when supported. */
  errno?: string;
  /** The verifier's log of the probe load, or why there was nothing to load. */
  log: string;
}

/**
 * Whether the kernel loads `tracing` programs of an attach type (`trace_fentry`, `trace_fexit`,
 * `trace_raw_tp`) for a kernel BTF type: loads (never attaches) an empty program for `btfName`,
 * a function (`kind: "func"`, fentry/fexit) or a `btf_trace_<tracepoint>` typedef (tp_btf).
 * `libbpf_probe_bpf_prog_type` cannot answer this: one program type serves all three, and a
 * kernel can load tp_btf programs yet refuse fentry trampolines. Needs kernel BTF.
 */
export function probeTracing(attachType: "trace_fentry" | "trace_fexit" | "trace_raw_tp", btfName: string, kind: "func" | "typedef"): TracingProbe {
  const r = native().probeTracing(enumValue("attach", attachType), btfName, kind);
  return r.supported ? { supported: true, log: r.log } : { supported: false, errno: errnoCode(-r.errno), log: r.log };
}
