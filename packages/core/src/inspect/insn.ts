/**
 * BPF instruction encoding (the kernel's `struct bpf_insn`, 8 bytes): opcode classes and the
 * few opcodes inspection and the observe-mode rewrite need, a decoder and an encoder.
 */

export const INSN_SIZE = 8;

export const BPF_CLASS = { LD: 0, LDX: 1, ST: 2, STX: 3, ALU: 4, JMP: 5, JMP32: 6, ALU64: 7 } as const;
export const BPF_MODE = { IMM: 0x00, ABS: 0x20, IND: 0x40, MEM: 0x60, MEMSX: 0x80, ATOMIC: 0xc0 } as const;
export const BPF_SRC_X = 0x08;
export const BPF_ALU_OP = { ADD: 0x00, SUB: 0x10, MOV: 0xb0, END: 0xd0 } as const;
export const BPF_JMP_OP = { JA: 0x00, CALL: 0x80, EXIT: 0x90 } as const;
/** `atomic` op flag: the old value is loaded back into a register. */
export const BPF_FETCH = 0x01;
export const BPF_CMPXCHG = 0xf0 | BPF_FETCH;

export const OPCODE = {
  /** `call imm` (helper, bpf-to-bpf or kfunc depending on src_reg). */
  CALL: BPF_CLASS.JMP | BPF_JMP_OP.CALL,
  EXIT: BPF_CLASS.JMP | BPF_JMP_OP.EXIT,
  JA: BPF_CLASS.JMP | BPF_JMP_OP.JA,
  /** `r = imm64`: two instruction slots. */
  LD_IMM64: BPF_CLASS.LD | BPF_MODE.IMM | 0x18,
  /** `r0 = imm` (64-bit mov of an immediate). */
  MOV64_IMM: BPF_CLASS.ALU64 | BPF_ALU_OP.MOV,
} as const;

/** src_reg values of `call`. */
export const PSEUDO_CALL = 1;
export const PSEUDO_KFUNC_CALL = 2;

export interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

export function insnClass(code: number): number {
  return code & 0x07;
}

export function decodeInsn(bytes: Uint8Array, index: number, littleEndian: boolean): Insn {
  const at = index * INSN_SIZE;
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, INSN_SIZE);
  const regs = view.getUint8(1);
  return {
    code: view.getUint8(0),
    // The register nibbles swap with the byte order (the kernel's bitfield layout).
    dst: littleEndian ? regs & 0x0f : regs >> 4,
    src: littleEndian ? regs >> 4 : regs & 0x0f,
    off: view.getInt16(2, littleEndian),
    imm: view.getInt32(4, littleEndian),
  };
}

export function encodeInsn(insn: Insn, littleEndian: boolean): Uint8Array {
  const out = new Uint8Array(INSN_SIZE);
  const view = new DataView(out.buffer);
  view.setUint8(0, insn.code);
  view.setUint8(1, littleEndian ? (insn.src << 4) | insn.dst : (insn.dst << 4) | insn.src);
  view.setInt16(2, insn.off, littleEndian);
  view.setInt32(4, insn.imm, littleEndian);
  return out;
}

export function isLdImm64(insn: Insn): boolean {
  return insn.code === OPCODE.LD_IMM64;
}

/** ST, STX (plain and atomic): instructions that write memory at `dst + off`. */
export function isStore(insn: Insn): boolean {
  const cls = insnClass(insn.code);
  const mode = insn.code & 0xe0;
  return (cls === BPF_CLASS.ST || cls === BPF_CLASS.STX) && (mode === BPF_MODE.MEM || mode === BPF_MODE.ATOMIC);
}

/** Bytes a load or store of this opcode moves. */
export function accessSize(code: number): number {
  switch (code & 0x18) {
    case 0x00:
      return 4;
    case 0x08:
      return 2;
    case 0x10:
      return 1;
    default:
      return 8;
  }
}
