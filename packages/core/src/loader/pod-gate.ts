/**
 * The pod-scope gate for tracing programs (tracepoint, kprobe, kretprobe). Such a
 * program runs for every task of the node wherever it is attached, so pod scope cannot attach
 * it "to a pod". Instead the tenant's program is loaded but never attached: the agent attaches a
 * gate of its own, of the same kernel program type, that walks the current task's cgroup
 * ancestors (`bpf_get_current_ancestor_cgroup_id`, levels 1..GATE_MAX_LEVEL) and, only when one
 * of them is a selected pod's cgroup (a key of the agent's filter map), tail-calls into the
 * tenant's program through a program array holding only it.
 *
 * Why this holds against a hostile program: the tenant's object never references the filter or
 * the program array (they are created here, outside its object, and reach the gate by fd), so
 * nothing it declares (maps of any name, its own program arrays, extra programs) can change
 * them; its entry point is reachable only through the gate's tail call, which happens after the
 * check. Whatever the tenant's program itself tail-calls runs inside that same gated invocation.
 * A tail call skips the checks the kernel makes when a program itself is attached (how far a
 * tracepoint program reads into the event's record): the plugin's `podScope.verify` has the
 * kernel make them first, against an event that is never enabled.
 *
 * The gate is hand-assembled (a few dozen instructions) rather than compiled from C: the agent
 * runs without a compiler in a cluster, and the instructions are short enough to read here.
 */
import { BpfMap, BpfProgram } from "@ebpf-operator/libbpf";
import {
  ADD64_IMM,
  CALL,
  EXIT,
  HELPER_MAP_LOOKUP_ELEM,
  HELPER_TAIL_CALL,
  JEQ_IMM,
  JNE_IMM,
  LD_IMM64,
  MOV64_IMM,
  MOV64_REG,
  PSEUDO_MAP_FD,
  STX_DW,
  encodeInstructions,
  type Insn,
} from "./bpf-insn.js";

/** Cgroup levels the gate walks (a pod's cgroup deeper than this is refused by the loader). */
export const GATE_MAX_LEVEL = 24;
/** Pods one resource's filter holds on a node (far above the kubelet's default of 110 pods). */
export const FILTER_MAX_PODS = 1024;
/** The filter's value: the pod's UID (ASCII, zero-padded), so an adopting agent knows the pods. */
const UID_BYTES = 48;

export const FILTER_MAP_NAME = "eop_pod_filter";
const CALLS_MAP_NAME = "eop_pod_calls";
const GATE_NAME = "eop_pod_gate";

const HELPER_GET_CURRENT_ANCESTOR_CGROUP_ID = 123;

/** Instructions per walked level (see gateInstructions). */
const PER_LEVEL = 10;

/**
 * The gate's instructions:
 *
 *     r6 = ctx
 *     for level in 1..maxLevel:                 (unrolled)
 *       r0 = bpf_get_current_ancestor_cgroup_id(level)
 *       if r0 == 0 goto out                     (the task's cgroup is shallower: no pod above it)
 *       key = r0
 *       if bpf_map_lookup_elem(filter, &key) != NULL goto hit
 *     out: return 0
 *     hit: bpf_tail_call(ctx, calls, 0); return 0
 */
export function gateInstructions(filterFd: number, callsFd: number, maxLevel = GATE_MAX_LEVEL): Buffer {
  const out = 1 + PER_LEVEL * maxLevel;
  const hit = out + 2;
  const code: Insn[] = [[MOV64_REG, 6, 1, 0, 0]];
  for (let level = 1; level <= maxLevel; level++) {
    const at = code.length;
    code.push(
      [MOV64_IMM, 1, 0, 0, level],
      [CALL, 0, 0, 0, HELPER_GET_CURRENT_ANCESTOR_CGROUP_ID],
      [JEQ_IMM, 0, 0, out - (at + 3), 0],
      [STX_DW, 10, 0, -8, 0],
      [MOV64_REG, 2, 10, 0, 0],
      [ADD64_IMM, 2, 0, 0, -8],
      [LD_IMM64, 1, PSEUDO_MAP_FD, 0, filterFd],
      [0, 0, 0, 0, 0],
      [CALL, 0, 0, 0, HELPER_MAP_LOOKUP_ELEM],
      [JNE_IMM, 0, 0, hit - (at + 10), 0],
    );
  }
  code.push(
    [MOV64_IMM, 0, 0, 0, 0],
    [EXIT, 0, 0, 0, 0],
    [MOV64_REG, 1, 6, 0, 0],
    [LD_IMM64, 2, PSEUDO_MAP_FD, 0, callsFd],
    [0, 0, 0, 0, 0],
    [MOV64_IMM, 3, 0, 0, 0],
    [CALL, 0, 0, 0, HELPER_TAIL_CALL],
    [MOV64_IMM, 0, 0, 0, 0],
    [EXIT, 0, 0, 0, 0],
  );
  return encodeInstructions(code);
}

/** A resource's filter: the selected pods' cgroup ids (keys) and UIDs (values). */
export function createPodFilter(): BpfMap {
  return BpfMap.create({ type: "hash", name: FILTER_MAP_NAME, keySize: 8, valueSize: UID_BYTES, maxEntries: FILTER_MAX_PODS });
}

/** A gate and the program array that holds only the tenant's program. */
export interface PodGate {
  program: BpfProgram;
  calls: BpfMap;
}

/**
 * Loads a gate in front of `target` (a loaded, unattached tenant program of kernel type
 * `kernelType`, loaded with `expectedAttachType`): the program array's owner is the gate, so the
 * kernel accepts only a program of the same type and attach type into it. Throws when the
 * kernel refuses either (the caller wraps the error).
 */
export function loadPodGate(target: BpfProgram, kernelType: string, expectedAttachType: string, filter: BpfMap): PodGate {
  const calls = BpfMap.create({ type: "prog_array", name: CALLS_MAP_NAME, keySize: 4, valueSize: 4, maxEntries: 1 });
  try {
    const program = BpfProgram.load({ type: kernelType, expectedAttachType, name: GATE_NAME, instructions: gateInstructions(filter.fd, calls.fd) });
    try {
      calls.update(u32(0), u32(target.fd));
    } catch (error) {
      program.close();
      throw error;
    }
    return { program, calls };
  } catch (error) {
    calls.close();
    throw error;
  }
}

/** Lets the tasks below the pod's cgroup through the gate. */
export function admitPod(filter: BpfMap, uid: string, cgroupId: bigint): void {
  const value = Buffer.alloc(UID_BYTES);
  if (Buffer.byteLength(uid) >= UID_BYTES) throw new RangeError(`pod UID ${JSON.stringify(uid)} is too long for the pod filter`);
  value.write(uid, "ascii");
  filter.update(u64(cgroupId), value);
}

/** Removes every cgroup id of the pod from the filter; returns how many. */
export function expelPod(filter: BpfMap, uid: string): number {
  let removed = 0;
  for (const [key, owner] of filterEntries(filter)) {
    if (owner === uid && filter.delete(u64(key))) removed++;
  }
  return removed;
}

/** The pods in a filter: UID -> cgroup ids (what an adopting agent starts from). */
export function podsInFilter(filter: BpfMap): Map<string, bigint[]> {
  const pods = new Map<string, bigint[]>();
  for (const [id, uid] of filterEntries(filter)) pods.set(uid, [...(pods.get(uid) ?? []), id]);
  return pods;
}

function filterEntries(filter: BpfMap): [bigint, string][] {
  const out: [bigint, string][] = [];
  for (let key = filter.nextKey(); key !== undefined; key = filter.nextKey(key)) {
    const value = filter.lookup(key);
    if (value === undefined) continue;
    const end = value.indexOf(0);
    out.push([key.readBigUInt64LE(0), value.subarray(0, end < 0 ? value.length : end).toString("ascii")]);
    if (out.length > FILTER_MAX_PODS) break; // a walk restarted by concurrent deletes ends anyway
  }
  return out;
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  return b;
}

function u64(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(value);
  return b;
}
