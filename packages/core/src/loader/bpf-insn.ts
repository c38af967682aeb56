/**
 * BPF instruction encoding for the agent's hand-assembled gates (pod-gate.ts, pod-net-gate.ts):
 * a dozen opcodes and the 8-byte instruction layout (include/uapi/linux/bpf.h, bpf_common.h).
 * Hand-written because the gates are built on the node, where no compiler runs.
 */
export const MOV64_IMM = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
export const MOV32_IMM = 0xb4; // BPF_ALU | BPF_MOV | BPF_K (zero-extends)
export const MOV64_REG = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
export const ADD64_IMM = 0x07; // BPF_ALU64 | BPF_ADD | BPF_K
export const LDX_W = 0x61; // BPF_LDX | BPF_MEM | BPF_W
export const STX_W = 0x63; // BPF_STX | BPF_MEM | BPF_W
export const STX_DW = 0x7b; // BPF_STX | BPF_MEM | BPF_DW
export const LD_IMM64 = 0x18; // BPF_LD | BPF_IMM | BPF_DW (two slots)
export const JEQ_IMM = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
export const JNE_IMM = 0x55; // BPF_JMP | BPF_JNE | BPF_K
export const JGT_REG = 0x2d; // BPF_JMP | BPF_JGT | BPF_X
export const CALL = 0x85; // BPF_JMP | BPF_CALL
export const EXIT = 0x95; // BPF_JMP | BPF_EXIT
export const PSEUDO_MAP_FD = 1;
export const HELPER_MAP_LOOKUP_ELEM = 1;
export const HELPER_TAIL_CALL = 12;

export type Insn = [code: number, dst: number, src: number, off: number, imm: number];

/** The instructions as the kernel takes them: 8 bytes each, little-endian. */
export function encodeInstructions(code: readonly Insn[]): Buffer {
  const buffer = Buffer.alloc(code.length * 8);
  code.forEach(([op, dst, src, off, imm], i) => {
    buffer.writeUInt8(op, i * 8);
    buffer.writeUInt8((src << 4) | dst, i * 8 + 1);
    buffer.writeInt16LE(off, i * 8 + 2);
    buffer.writeInt32LE(imm, i * 8 + 4);
  });
  return buffer;
}
