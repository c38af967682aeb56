/**
 * The pod-scope network gate: how a pod-scoped xdp or socket filter program learns which pod a
 * packet is of. The contexts of these types carry no pod identity (no cgroup; `ingress_ifindex`
 * is per network namespace and collides across pods; the kernel refuses `bpf_get_netns_cookie`
 * to XDP), so the agent says it: for each pod it attaches, in the pod's network namespace, a
 * tiny program of the tenant's program's kernel type with the pod's cgroup id as a constant,
 * which writes the id where the tenant's program can read it and tail-calls the tenant's program
 * through a one-slot program array. The tenant's program is loaded and never attached itself.
 *
 * - XDP: the id goes in the packet's metadata area (`bpf_xdp_adjust_meta(ctx, -8)`, then 8
 *   bytes at `ctx->data_meta`), per packet, so nothing is shared between CPUs or pods.
 * - socket filter: the id goes in `skb->cb[0]` (low half) and `cb[1]` (high half), which a socket
 *   filter may write; the kernel clears those 20 bytes before a filter that touches them runs
 *   (AF_PACKET's run_filter: `bpf_prog_run_clear_cb`), so no other layer's bytes are read and
 *   no earlier packet's id is left for the program.
 *
 * The tenant reads it with `eop_pod_cgroup_id(ctx)` (bpf/include/ebpf-operator/pod.h), which is 0
 * when no gate ran, and keys its map by it; the resource's `pod` decoder names the pod (its table
 * holds the resource's own attached pods' cgroup ids only). A tenant's program can write any
 * value into its own packet's metadata or control block: that can only mislabel its own rows as
 * another of its own pods (any other id is dropped by the decoder), see docs/security.md.
 *
 * Hand-assembled like pod-gate.ts (a dozen instructions, no compiler on a cluster's node).
 */
import { BpfMap, BpfProgram } from "@ebpf-operator/libbpf";
import {
  ADD64_IMM,
  CALL,
  EXIT,
  HELPER_TAIL_CALL,
  JGT_REG,
  JNE_IMM,
  LDX_W,
  LD_IMM64,
  MOV32_IMM,
  MOV64_IMM,
  MOV64_REG,
  PSEUDO_MAP_FD,
  STX_DW,
  STX_W,
  encodeInstructions,
  type Insn,
} from "./bpf-insn.js";

/** Where a kernel program type's gate leaves the pod's cgroup id. */
export type NetGateSlot = "xdp_meta" | "skb_cb";

const CALLS_MAP_NAME = "eop_pod_calls";
const GATE_NAME = "eop_pod_netgate";

/** The slot a kernel program type's gate writes (undefined: the type has no network gate). */
export function netGateSlot(kernelType: string): NetGateSlot | undefined {
  if (kernelType === "xdp") return "xdp_meta";
  if (kernelType === "socket_filter") return "skb_cb";
  return undefined;
}

const HELPER_XDP_ADJUST_META = 54;
const XDP_PASS = 2;
/** struct xdp_md: data, data_end, data_meta (u32 each). */
const XDP_MD_DATA = 0;
const XDP_MD_DATA_META = 8;
/** struct __sk_buff: cb[0] and cb[1] (u32 each). */
const SKB_CB0 = 48;
const SKB_CB1 = 52;
/** Bytes of metadata the XDP gate adds in front of the packet. */
export const XDP_META_BYTES = 8;

/**
 * The gate's instructions for one pod (`cgroupId`, never 0: 0 means "no gate ran").
 *
 * xdp_meta:
 *
 *     r6 = ctx
 *     if bpf_xdp_adjust_meta(ctx, -8) != 0 goto call   (no headroom: the program sees no id)
 *     r2 = ctx->data_meta; r3 = ctx->data
 *     if r2 + 8 > r3 goto call                          (the verifier's bounds check)
 *     *(u64 *)r2 = cgroupId
 *     call: bpf_tail_call(ctx, calls, 0); return XDP_PASS
 *
 * skb_cb:
 *
 *     r6 = ctx
 *     ctx->cb[0] = low 32 bits of cgroupId; ctx->cb[1] = high 32 bits
 *     bpf_tail_call(ctx, calls, 0); return 0
 *
 * If the tail call fails (the slot is empty) the packet passes (XDP) or the filter keeps
 * nothing (the agent's packet socket only exists to run the filter).
 */
export function netGateInstructions(slot: NetGateSlot, cgroupId: bigint, callsFd: number): Buffer {
  if (cgroupId <= 0n || cgroupId >= 1n << 64n) throw new RangeError(`pod cgroup id ${cgroupId} cannot identify a pod (0 means none)`);
  const lo = Number(cgroupId & 0xffffffffn) | 0;
  const hi = Number(cgroupId >> 32n) | 0;
  const code: Insn[] = [[MOV64_REG, 6, 1, 0, 0]];
  if (slot === "xdp_meta") {
    const write: Insn[] = [
      [MOV64_IMM, 2, 0, 0, -XDP_META_BYTES],
      [CALL, 0, 0, 0, HELPER_XDP_ADJUST_META],
      [JNE_IMM, 0, 0, 8, 0], // -> call
      [LDX_W, 2, 6, XDP_MD_DATA_META, 0],
      [LDX_W, 3, 6, XDP_MD_DATA, 0],
      [MOV64_REG, 4, 2, 0, 0],
      [ADD64_IMM, 4, 0, 0, XDP_META_BYTES],
      [JGT_REG, 4, 3, 3, 0], // -> call
      [LD_IMM64, 1, 0, 0, lo],
      [0, 0, 0, 0, hi],
      [STX_DW, 2, 1, 0, 0],
    ];
    code.push(...write);
  } else {
    code.push([MOV32_IMM, 1, 0, 0, lo], [STX_W, 6, 1, SKB_CB0, 0], [MOV32_IMM, 1, 0, 0, hi], [STX_W, 6, 1, SKB_CB1, 0]);
  }
  code.push(
    [MOV64_REG, 1, 6, 0, 0],
    [LD_IMM64, 2, PSEUDO_MAP_FD, 0, callsFd],
    [0, 0, 0, 0, 0],
    [MOV64_IMM, 3, 0, 0, 0],
    [CALL, 0, 0, 0, HELPER_TAIL_CALL],
    [MOV64_IMM, 0, 0, 0, slot === "xdp_meta" ? XDP_PASS : 0],
    [EXIT, 0, 0, 0, 0],
  );
  return encodeInstructions(code);
}

/**
 * The program array holding only the tenant's program (`target`), which every pod's gate of the
 * resource tail-calls. Its first program sets what the kernel accepts into it: the tenant's
 * type and expected attach type, which the gates are loaded with too.
 */
export function createNetGateCalls(target: BpfProgram): BpfMap {
  const calls = BpfMap.create({ type: "prog_array", name: CALLS_MAP_NAME, keySize: 4, valueSize: 4, maxEntries: 1 });
  try {
    const key = Buffer.alloc(4);
    const value = Buffer.alloc(4);
    value.writeUInt32LE(target.fd);
    calls.update(key, value);
    return calls;
  } catch (error) {
    calls.close();
    throw error;
  }
}

/** Loads one pod's gate (unattached: the plugin attaches it where the tenant's program would be). Throws what the kernel says. */
export function loadNetGate(slot: NetGateSlot, kernelType: string, expectedAttachType: string | undefined, cgroupId: bigint, calls: BpfMap): BpfProgram {
  return BpfProgram.load({
    type: kernelType,
    ...(expectedAttachType !== undefined ? { expectedAttachType } : {}),
    name: GATE_NAME,
    instructions: netGateInstructions(slot, cgroupId, calls.fd),
  });
}
