/**
 * Where a program may write the packet or its context: the static part of observe mode.
 *
 * Rewriting every exit makes the verdict ours, but an XDP program can also write the packet it
 * lets through (direct stores through `ctx->data`), and cgroup and socket programs can write
 * context fields (`skb->mark`, `sk->bound_dev_if`, `ops->reply`). The kernel allows both, so
 * observe mode refuses the program when any store *may* go through such a pointer.
 *
 * A forward data-flow analysis over the program and every subprogram it reaches, in the
 * verifier's spirit but path-insensitive and conservative: each register (and each 8-byte stack
 * slot of a function's frame) holds the set of kinds of value it may contain — the context,
 * a packet pointer, a stack pointer (with its frame offset when known), anything else. Packet
 * pointers come only from the context's data fields (or from a context load the CO-RE
 * relocations may move) and from kfunc results; they flow through moves, arithmetic, spills and
 * fills, calls (arguments and return values, context-insensitively) and callbacks. A store whose
 * address may be a packet or context pointer is a finding, as is a packet pointer handed to a
 * helper or kfunc parameter it may write through.
 *
 * Sound rather than precise: a finding is not proof the program writes the packet, but a
 * program without findings cannot (the verifier guarantees the types this analysis assumes:
 * no pointer from a scalar, no deref of a modified context pointer, no pointers in map values
 * for tenants loaded without CAP_PERFMON).
 */
import { BPF_HELPERS } from "./bpf-uapi.js";
import type { FunctionCode, SourceLocation } from "./inspect-object.js";
import { BPF_CLASS, BPF_CMPXCHG, BPF_FETCH, BPF_MODE, BPF_SRC_X, OPCODE, accessSize, insnClass, isLdImm64, isStore, type Insn } from "./insn.js";

const CTX = 1;
const PKT = 2;
const STACK = 4;
const OTHER = 8;
const ALL = CTX | PKT | STACK | OTHER;
const MAX_STACK = 512;

interface Value {
  kinds: number;
  /** Offset from this frame's r10, when the value is exactly a pointer into this frame. */
  offset?: number;
}

interface State {
  regs: Value[];
  slots: Map<number, Value>;
}

const NONE: Value = { kinds: 0 };
const SCALAR: Value = { kinds: OTHER };

export type StoreFindingKind = "packet-store" | "context-store" | "packet-argument" | "indirect-jump";

export interface StoreFinding {
  kind: StoreFindingKind;
  function: string;
  insn: number;
  source?: SourceLocation;
  /** For `packet-argument`: the helper or kfunc and the argument number. */
  callee?: string;
  argument?: number;
}

/** Context offsets whose load yields a packet pointer, by program type (libbpf names). */
export function packetFieldsOf(programType: string): ReadonlySet<number> {
  // struct xdp_md: data, data_end, data_meta.
  if (programType === "xdp") return new Set([0, 4, 8]);
  // struct __sk_buff: data (76), data_end (80), data_meta (140).
  if (
    ["socket_filter", "cgroup_skb", "sched_cls", "sched_act", "lwt_in", "lwt_out", "lwt_xmit", "lwt_seg6local", "sk_skb", "flow_dissector"].includes(
      programType,
    )
  )
    return new Set([76, 80, 140]);
  if (programType === "sk_msg") return new Set([0, 8]);
  return new Set();
}

function join(a: Value, b: Value): Value {
  const kinds = a.kinds | b.kinds;
  if (a.kinds === 0) return b;
  if (b.kinds === 0) return a;
  if (kinds === STACK && a.offset !== undefined && a.offset === b.offset) return { kinds, offset: a.offset };
  return { kinds };
}

function same(a: Value, b: Value): boolean {
  return a.kinds === b.kinds && a.offset === b.offset;
}

function withoutOffset(v: Value): Value {
  return v.offset === undefined ? v : { kinds: v.kinds };
}

function cloneState(s: State): State {
  return { regs: [...s.regs], slots: new Map(s.slots) };
}

/** Joins `incoming` into `into`; returns whether `into` changed. */
function joinInto(into: State, incoming: State): boolean {
  let changed = false;
  for (let r = 0; r < into.regs.length; r++) {
    const j = join(into.regs[r]!, incoming.regs[r]!);
    if (!same(j, into.regs[r]!)) {
      into.regs[r] = j;
      changed = true;
    }
  }
  for (const [slot, value] of incoming.slots) {
    const old = into.slots.get(slot) ?? NONE;
    const j = join(old, value);
    if (!same(j, old)) {
      into.slots.set(slot, j);
      changed = true;
    }
  }
  return changed;
}

interface Shared {
  /** Per function: joined values of r1..r5 at every call (index 0 unused). */
  entryArgs: Map<string, Value[]>;
  /** Per function: the kinds r0 may hold at its exits. */
  returns: Map<string, number>;
  /** Kinds written through stack pointers whose slot is unknown (another frame's, or a variable offset). */
  indirect: number;
  /** Kinds stored in any stack slot of any frame: what a pointer into another frame may read. */
  spilled: number;
  /** Kinds passed to any helper: what a callback may receive. */
  helperArgs: number;
  changed: boolean;
}

/**
 * Analyses `entry` (whose r1 is the context) and every function in `functions` (the program's
 * subprograms), returning the stores and helper arguments that may touch the packet or context.
 */
export function analyzeStores(
  code: ReadonlyMap<string, FunctionCode>,
  entry: string,
  functions: readonly string[],
  packetFields: ReadonlySet<number>,
): StoreFinding[] {
  const shared: Shared = { entryArgs: new Map(), returns: new Map(), indirect: 0, spilled: 0, helperArgs: 0, changed: true };
  const findings = new Map<string, StoreFinding>();
  const callbacks = new Set<string>();
  for (const name of functions) {
    const fc = code.get(name);
    if (!fc) continue;
    for (const [i, target] of fc.callTargets) if (isLdImm64(fc.insns[i]!)) callbacks.add(target);
    // `gotox` (an indirect jump through a register): this analysis cannot follow it.
    fc.insns.forEach((insn, i) => {
      const cls = insnClass(insn.code);
      if ((cls === BPF_CLASS.JMP || cls === BPF_CLASS.JMP32) && (insn.code & 0xf0) === 0x00 && (insn.code & BPF_SRC_X) !== 0) {
        const source = fc.source(i);
        findings.set(`${name}:${i}:indirect-jump`, { kind: "indirect-jump", function: name, insn: i, ...(source ? { source } : {}) });
      }
    });
  }
  for (let round = 0; shared.changed && round < 100; round++) {
    shared.changed = false;
    for (const name of functions) {
      const fc = code.get(name);
      if (!fc) continue;
      const regs: Value[] = Array.from({ length: 11 }, () => NONE);
      if (name === entry) {
        regs[1] = { kinds: CTX };
      } else {
        const args = shared.entryArgs.get(name) ?? [];
        for (let r = 1; r <= 5; r++) regs[r] = args[r] ?? NONE;
        if (callbacks.has(name)) for (let r = 1; r <= 5; r++) regs[r] = join(regs[r]!, { kinds: shared.helperArgs | OTHER });
      }
      regs[10] = { kinds: STACK, offset: 0 };
      analyzeFunction(fc, { regs, slots: new Map() }, packetFields, shared, findings);
    }
  }
  return [...findings.values()].sort((a, b) => (a.function === b.function ? a.insn - b.insn : a.function.localeCompare(b.function)));
}

function successors(insns: readonly Insn[], i: number): number[] {
  const insn = insns[i]!;
  const cls = insnClass(insn.code);
  if (isLdImm64(insn)) return [i + 2];
  if (cls !== BPF_CLASS.JMP && cls !== BPF_CLASS.JMP32) return [i + 1];
  const op = insn.code & 0xf0;
  if (insn.code === OPCODE.EXIT) return [];
  if (insn.code === OPCODE.CALL) return [i + 1];
  if (op === 0x00) return [cls === BPF_CLASS.JMP32 ? i + 1 + insn.imm : i + 1 + insn.off]; // ja / gotol
  return [i + 1, i + 1 + insn.off];
}

function analyzeFunction(fc: FunctionCode, initial: State, packetFields: ReadonlySet<number>, shared: Shared, findings: Map<string, StoreFinding>): void {
  const { insns } = fc;
  const states = new Map<number, State>([[0, initial]]);
  const work = [0];
  const record = (finding: Omit<StoreFinding, "function" | "source">): void => {
    const key = `${fc.name}:${finding.insn}:${finding.kind}:${finding.argument ?? ""}`;
    if (findings.has(key)) return;
    const full: StoreFinding = { ...finding, function: fc.name };
    const source = fc.source(finding.insn);
    if (source) full.source = source;
    findings.set(key, full);
  };
  while (work.length > 0) {
    const i = work.pop()!;
    const state = cloneState(states.get(i)!);
    step(fc, i, state, packetFields, shared, record);
    for (const next of successors(insns, i)) {
      if (next < 0 || next >= insns.length) continue;
      const existing = states.get(next);
      if (existing === undefined) {
        states.set(next, cloneState(state));
        work.push(next);
      } else if (joinInto(existing, state)) {
        work.push(next);
      }
    }
  }
}

function slotsCovering(offset: number, size: number): number[] {
  const first = Math.floor(offset / 8) * 8;
  const out: number[] = [];
  for (let s = first; s < offset + size; s += 8) out.push(s);
  return out;
}

function knownStackOffset(v: Value, delta: number): number | undefined {
  if (v.kinds !== STACK || v.offset === undefined) return undefined;
  const offset = v.offset + delta;
  return offset >= -MAX_STACK && offset < 0 ? offset : undefined;
}

function loadFromStack(state: State, base: Value, insn: Insn, relocated: boolean, shared: Shared): Value {
  const size = accessSize(insn.code);
  const offset = relocated ? undefined : knownStackOffset(base, insn.off);
  if (offset !== undefined && base.kinds === STACK) {
    const slots = slotsCovering(offset, size);
    let v: Value = NONE;
    for (const s of slots) v = join(v, state.slots.get(s) ?? NONE);
    if (!(size === 8 && offset % 8 === 0)) v = withoutOffset(v);
    return shared.indirect === 0 ? v : join(v, { kinds: shared.indirect });
  }
  // Unknown slot, possibly in a caller's frame (a pointer passed as an argument or to a callback).
  let kinds = shared.indirect | shared.spilled;
  for (const v of state.slots.values()) kinds |= v.kinds;
  return { kinds };
}

function storeToStack(state: State, base: Value, insn: Insn, value: Value, relocated: boolean, shared: Shared): void {
  if ((shared.spilled | value.kinds) !== shared.spilled) {
    shared.spilled |= value.kinds;
    shared.changed = true;
  }
  const size = accessSize(insn.code);
  const offset = relocated ? undefined : knownStackOffset(base, insn.off);
  if (offset !== undefined && base.kinds === STACK) {
    if (size === 8 && offset % 8 === 0) {
      state.slots.set(offset, value);
    } else {
      for (const s of slotsCovering(offset, size)) state.slots.set(s, withoutOffset(join(state.slots.get(s) ?? NONE, value)));
    }
    return;
  }
  // Unknown slot: any slot of this frame, or of a caller's frame.
  for (const [s, v] of state.slots) state.slots.set(s, withoutOffset(join(v, value)));
  if ((shared.indirect | value.kinds) !== shared.indirect) {
    shared.indirect |= value.kinds;
    shared.changed = true;
  }
}

function step(
  fc: FunctionCode,
  i: number,
  state: State,
  packetFields: ReadonlySet<number>,
  shared: Shared,
  record: (finding: Omit<StoreFinding, "function" | "source">) => void,
): void {
  const insn = fc.insns[i]!;
  const regs = state.regs;
  const cls = insnClass(insn.code);
  const relocated = fc.coreRelocated.has(i);

  if (cls === BPF_CLASS.ALU || cls === BPF_CLASS.ALU64) {
    const op = insn.code & 0xf0;
    const fromReg = (insn.code & BPF_SRC_X) !== 0;
    const dst = regs[insn.dst] ?? NONE;
    const src = fromReg ? (regs[insn.src] ?? NONE) : SCALAR;
    if (op === 0xb0) {
      // mov: a register copy keeps the value (a sign-extending or 32-bit one loses the offset)
      regs[insn.dst] = fromReg ? (cls === BPF_CLASS.ALU64 && insn.off === 0 ? src : withoutOffset(src)) : SCALAR;
    } else if ((op === 0x00 || op === 0x10) && !fromReg && cls === BPF_CLASS.ALU64 && !relocated && dst.kinds === STACK && dst.offset !== undefined) {
      const offset = dst.offset + (op === 0x00 ? insn.imm : -insn.imm);
      regs[insn.dst] = offset >= -MAX_STACK && offset <= 0 ? { kinds: STACK, offset } : { kinds: STACK };
    } else {
      regs[insn.dst] = { kinds: dst.kinds | (fromReg ? src.kinds : 0) || OTHER };
    }
    return;
  }

  if (cls === BPF_CLASS.LDX) {
    const mode = insn.code & 0xe0;
    if (mode !== BPF_MODE.MEM && mode !== BPF_MODE.MEMSX) {
      regs[insn.dst] = SCALAR;
      return;
    }
    const base = regs[insn.src] ?? NONE;
    let value: Value = NONE;
    if (base.kinds & CTX) value = join(value, { kinds: relocated ? PKT | OTHER : packetFields.has(insn.off) ? PKT : OTHER });
    if (base.kinds & STACK) value = join(value, loadFromStack(state, base, insn, relocated, shared));
    if (base.kinds & (PKT | OTHER) || base.kinds === 0) value = join(value, SCALAR);
    regs[insn.dst] = value;
    return;
  }

  if (isStore(insn)) {
    const base = regs[insn.dst] ?? NONE;
    const value = cls === BPF_CLASS.ST ? SCALAR : (regs[insn.src] ?? NONE);
    if (base.kinds & PKT) record({ kind: "packet-store", insn: i });
    if (base.kinds & CTX) record({ kind: "context-store", insn: i });
    if (base.kinds & STACK) storeToStack(state, base, insn, value, relocated, shared);
    if ((insn.code & 0xe0) === BPF_MODE.ATOMIC && insn.imm & BPF_FETCH) {
      let loaded: Value = SCALAR;
      if (base.kinds & STACK) loaded = join(loaded, loadFromStack(state, base, insn, relocated, shared));
      regs[insn.imm === BPF_CMPXCHG ? 0 : insn.src] = withoutOffset(loaded);
    }
    return;
  }

  if (cls === BPF_CLASS.LD) {
    if (isLdImm64(insn)) {
      regs[insn.dst] = SCALAR; // map, function, extern or constant: never the packet or context
    } else {
      // legacy packet loads (LD_ABS/LD_IND): r0 gets the data, r1-r5 are clobbered
      regs[0] = SCALAR;
      for (let r = 1; r <= 5; r++) regs[r] = NONE;
    }
    return;
  }

  if (insn.code === OPCODE.CALL) {
    const callee = fc.callTargets.get(i);
    const kfuncArgs = fc.kfuncArgs.get(i);
    if (callee !== undefined) {
      // bpf-to-bpf call: arguments flow into the callee (its frame cannot know our offsets)
      const args = shared.entryArgs.get(callee) ?? Array.from({ length: 6 }, () => NONE);
      let changed = false;
      for (let r = 1; r <= 5; r++) {
        const j = join(args[r]!, withoutOffset(regs[r]!));
        if (!same(j, args[r]!)) {
          args[r] = j;
          changed = true;
        }
      }
      if (changed || !shared.entryArgs.has(callee)) {
        shared.entryArgs.set(callee, args);
        if (changed) shared.changed = true;
      }
      regs[0] = { kinds: shared.returns.get(callee) ?? 0 };
    } else {
      const helper = kfuncArgs === undefined ? BPF_HELPERS[insn.imm] : undefined;
      const name = kfuncArgs !== undefined ? "a kfunc" : (helper?.name ?? `helper #${insn.imm}`);
      const argCount = helper?.args ?? 5;
      const mutable = kfuncArgs ?? helper?.mutablePointerArgs ?? [1, 2, 3, 4, 5];
      let passed = 0;
      for (let r = 1; r <= argCount; r++) passed |= regs[r]!.kinds;
      if ((shared.helperArgs | passed) !== shared.helperArgs) {
        shared.helperArgs |= passed;
        shared.changed = true;
      }
      // (What a helper writes through a stack pointer is data, never a pointer: slots keep their kinds.)
      for (const a of mutable) {
        if (a <= argCount && regs[a]!.kinds & PKT) record({ kind: "packet-argument", insn: i, callee: name, argument: a });
      }
      // kfuncs may return packet pointers (dynptr slices); helpers return scalars or other memory.
      regs[0] = kfuncArgs !== undefined ? { kinds: PKT | OTHER } : SCALAR;
    }
    for (let r = 1; r <= 5; r++) regs[r] = NONE;
    return;
  }

  if (insn.code === OPCODE.EXIT) {
    const ret = (shared.returns.get(fc.name) ?? 0) | regs[0]!.kinds;
    if (ret !== (shared.returns.get(fc.name) ?? 0)) {
      shared.returns.set(fc.name, ret);
      shared.changed = true;
    }
  }
  // conditional and unconditional jumps change no register
}

export const ANALYSIS_KINDS = { CTX, PKT, STACK, OTHER, ALL } as const;
