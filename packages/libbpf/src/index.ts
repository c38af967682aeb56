/**
 * `@ebpf-operator/libbpf`: a thin, typed Node-API binding over the system libbpf.
 *
 * Handles (`BpfObject`, `BpfProgram`, `BpfMap`, `BpfLink`) own kernel file descriptors: close
 * them (or use `using`) when done; every method of a closed handle throws `ClosedError`.
 * Failing libbpf / bpf() calls throw `LibbpfError` (or `BpfLoadError` from `BpfObject.load`).
 */
export { BpfObject } from "./object.js";
export type { Capability, LoadOptions, ObjectSource } from "./object.js";
export { BpfProgram } from "./program.js";
export type { KprobeOptions, RawProgramSpec, UprobeOptions, XdpOptions } from "./program.js";
export { BpfMap, HAND_OVER_ENTRIES, OFF_THREAD_MIN_ENTRIES, isPerCpuMapType } from "./map.js";
export type { MapRun, ReadAllOptions } from "./map.js";
export { BpfLink } from "./link.js";
export { PacketSocket, ETH_P_ALL } from "./socket.js";
export type { PacketSocketOptions } from "./socket.js";
export { netnsLinks, xdpProgramIds } from "./netns.js";
export { buildSeccompFilter } from "./seccomp.js";
export { MAX_THREAD_SLICE_NS, MIN_THREAD_SLICE_NS, setThreadSlice, threadSched } from "./sched.js";
export type { ThreadSched } from "./sched.js";
export { enableStats, possibleCpus, probeMapType, probeProgramType, probeTracing, releaseFreeMemory } from "./stats.js";
export type { StatsHandle, TracingProbe } from "./stats.js";
export { KERNEL_BTF_DIR, btfTypeNames, kernelBtfTypeNames } from "./btf.js";
export { BpfLoadError, ClosedError, LibbpfError, errnoCode } from "./errors.js";
export type { BpfLoadErrorOptions, LibbpfErrorOptions } from "./errors.js";
export type * from "./types.js";
