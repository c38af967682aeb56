/**
 * Observe mode: the verdict is not the tenant's. Every exit of the entry program's own code is
 * rewritten into a jump to an appended epilogue `r0 = <pass verdict>; exit`, before libbpf
 * relocates the object (subprograms are appended after the epilogue).
 *
 * Why this holds against a program written to defeat it:
 * - Only the entry function's frame ends the program; a subprogram's `exit` returns to its
 *   caller, and every exit in the entry function now reaches the epilogue. libbpf appends
 *   subprograms after the epilogue, and calls may only target `.text` functions, so no call can
 *   land inside the entry function's code (the verifier refuses jumps between functions).
 * - What else decides the outcome is refused statically (`checkObjectAgainst` in observe mode):
 *   tail calls (the called program's verdict would be final), `bpf_throw`, redirects,
 *   `bpf_set_retval`, helpers that change packets or sockets, stores through packet or context
 *   pointers, program types whose effect is not a verdict (address rewriting `cgroup_sock_addr`
 *   hooks, `fmod_ret`, LSM, ...).
 * - The inspected bytes are the loaded bytes: the loader checks that libbpf's view of the entry
 *   program equals the ELF function it analysed before rewriting it.
 */
import { INSN_SIZE, OPCODE, decodeInsn, encodeInsn, isLdImm64 } from "./insn.js";

/**
 * The verdict observe mode forces, per program type (libbpf names): the value that lets
 * everything through. `null`: the return value changes nothing (socket filters run on the
 * agent's own socket; fentry/fexit and raw tracepoints must return 0), so nothing is rewritten.
 * Types not listed are enforce-only.
 */
export const OBSERVE_VERDICTS: ReadonlyMap<string, number | null> = new Map<string, number | null>([
  ["xdp", 2], // XDP_PASS
  ["cgroup_skb", 1], // allow, no congestion notification
  ["cgroup_sock", 1], // allow the socket operation
  ["sock_ops", 1],
  ["cgroup_sysctl", 1],
  ["cgroup_sockopt", 1],
  ["cgroup_device", 1],
  // 0 would keep the event from perf/ftrace consumers of the same tracepoint or probe.
  ["kprobe", 1],
  ["tracepoint", 1],
  ["perf_event", 1],
  ["socket_filter", null],
  ["raw_tracepoint", null],
  ["tracing", null],
]);

/** Why a program type has no observe mode. */
export const ENFORCE_ONLY_REASONS: ReadonlyMap<string, string> = new Map([
  ["cgroup_sock_addr", "connect, bind, sendmsg, recvmsg and getpeername hooks rewrite addresses"],
  ["sk_lookup", "it steers connections to sockets"],
  ["sk_skb", "it redirects and rewrites socket data"],
  ["sk_msg", "it redirects and rewrites socket messages"],
  ["sched_cls", "it rewrites and redirects packets"],
  ["sched_act", "it rewrites and redirects packets"],
  ["lwt_in", "it rewrites packets"],
  ["lwt_out", "it rewrites packets"],
  ["lwt_xmit", "it rewrites packets"],
  ["lwt_seg6local", "it rewrites packets"],
  ["flow_dissector", "it decides how packets are classified"],
  ["sk_reuseport", "it steers connections to sockets"],
  ["lsm", "its return value denies operations"],
  ["struct_ops", "it replaces kernel functions"],
  ["ext", "it replaces another program's functions"],
  ["raw_tracepoint_writable", "it writes the tracepoint's buffer"],
  ["lirc_mode2", "it injects input events"],
]);

/** Attach types of otherwise observable program types whose return value is an effect. */
export const ENFORCE_ONLY_ATTACH_TYPES: ReadonlyMap<string, string> = new Map([
  ["modify_return", "fmod_ret programs replace a kernel function's return value"],
  ["lsm_mac", "LSM programs deny operations"],
  ["lsm_cgroup", "LSM programs deny operations"],
]);

/** Largest entry function the rewrite handles: `ja` jumps at most 32767 instructions. */
export const MAX_REWRITE_INSNS = 32767;

export interface RewriteResult {
  /** The entry program's instructions with every exit replaced and the epilogue appended. */
  bytes: Uint8Array;
  /** How many exits were rewritten. */
  exits: number;
}

/**
 * Rewrites every `exit` in `bytes` (one function's raw instructions) into `ja` to an appended
 * `r0 = verdict; exit`. Throws when the function is too large for a 16-bit jump.
 */
export function rewriteExits(bytes: Uint8Array, verdict: number, littleEndian: boolean): RewriteResult {
  if (bytes.byteLength % INSN_SIZE !== 0) throw new Error(`program code of ${bytes.byteLength} bytes is not a whole number of instructions`);
  const count = bytes.byteLength / INSN_SIZE;
  if (count > MAX_REWRITE_INSNS) throw new Error(`the program has ${count} instructions; observe mode rewrites programs of at most ${MAX_REWRITE_INSNS}`);
  const out = new Uint8Array(bytes.byteLength + 2 * INSN_SIZE);
  out.set(bytes);
  let exits = 0;
  for (let i = 0; i < count; i++) {
    const insn = decodeInsn(bytes, i, littleEndian);
    if (isLdImm64(insn)) {
      i++; // the second slot is data
      continue;
    }
    if (insn.code !== OPCODE.EXIT) continue;
    out.set(encodeInsn({ code: OPCODE.JA, dst: 0, src: 0, off: count - i - 1, imm: 0 }, littleEndian), i * INSN_SIZE);
    exits++;
  }
  out.set(encodeInsn({ code: OPCODE.MOV64_IMM, dst: 0, src: 0, off: 0, imm: verdict }, littleEndian), count * INSN_SIZE);
  out.set(encodeInsn({ code: OPCODE.EXIT, dst: 0, src: 0, off: 0, imm: 0 }, littleEndian), (count + 1) * INSN_SIZE);
  return { bytes: out, exits };
}
