/**
 * libbpf 1.1 caches its kernel feature probes for the whole process, the first time a load needs
 * one. One of them (FEAT_PROBE_READ_KERN, run when a program calls `bpf_probe_read_kernel` or
 * `_user`) loads a tracepoint program. Run for the first time inside a load with CAP_PERFMON
 * dropped, that probe fails and is cached as "unsupported"; libbpf then rewrites every later
 * `bpf_probe_read_kernel` call into the legacy `bpf_probe_read`, which x86-64 kernels do not
 * offer — breaking tracing programs loaded with full privileges for the rest of the process.
 *
 * So before the first load without CAP_PERFMON, a tiny object calling `bpf_probe_read_kernel`
 * is loaded with the caller's own capabilities, which settles the probe. The object is written
 * here (a minimal relocatable ELF: one program section, a licence, a symbol table): the agent
 * ships no compiler.
 */
import { endianness } from "node:os";
import { native } from "./native.js";

let warmed = false;

const SECTION = "tracepoint/syscalls/sys_enter_getpid";

/** The warm-up object: `r1 = r10 - 8; r2 = 8; r3 = 0; call bpf_probe_read_kernel; r0 = 0; exit`. */
export function warmUpObject(littleEndian = endianness() === "LE"): Uint8Array {
  const insn = (code: number, dst: number, src: number, off: number, imm: number): number[] => {
    const b = new DataView(new ArrayBuffer(8));
    b.setUint8(0, code);
    b.setUint8(1, littleEndian ? (src << 4) | dst : (dst << 4) | src);
    b.setInt16(2, off, littleEndian);
    b.setInt32(4, imm, littleEndian);
    return [...new Uint8Array(b.buffer)];
  };
  const code = new Uint8Array([
    ...insn(0xbf, 1, 10, 0, 0), // r1 = r10
    ...insn(0x07, 1, 0, 0, -8), // r1 += -8
    ...insn(0xb7, 2, 0, 0, 8), // r2 = 8
    ...insn(0xb7, 3, 0, 0, 0), // r3 = 0
    ...insn(0x85, 0, 0, 0, 113), // call bpf_probe_read_kernel
    ...insn(0xb7, 0, 0, 0, 0), // r0 = 0
    ...insn(0x95, 0, 0, 0, 0), // exit
  ]);
  const license = new TextEncoder().encode("GPL\0");
  const names = ["", ".strtab", ".symtab", SECTION, "license", "eop_probe_warmup"];
  const strtab = new TextEncoder().encode(`${names.join("\0")}\0`);
  const nameOffset = (name: string): number => new TextEncoder().encode(`${names.slice(0, names.indexOf(name)).join("\0")}\0`).length;

  const align8 = (n: number): number => Math.ceil(n / 8) * 8;
  const codeOff = 64;
  const licenseOff = codeOff + code.length;
  const strtabOff = licenseOff + license.length;
  const symtabOff = align8(strtabOff + strtab.length);
  const symtabSize = 2 * 24;
  const shoff = align8(symtabOff + symtabSize);
  const shnum = 5;
  const out = new Uint8Array(shoff + shnum * 64);
  const v = new DataView(out.buffer);
  const u16 = (at: number, x: number): void => v.setUint16(at, x, littleEndian);
  const u32 = (at: number, x: number): void => v.setUint32(at, x, littleEndian);
  const u64 = (at: number, x: number): void => v.setBigUint64(at, BigInt(x), littleEndian);

  out.set([0x7f, 0x45, 0x4c, 0x46, 2, littleEndian ? 1 : 2, 1]);
  u16(16, 1); // ET_REL
  u16(18, 247); // EM_BPF
  u32(20, 1);
  u64(40, shoff);
  u16(52, 64);
  u16(58, 64);
  u16(60, shnum);
  u16(62, 1); // .strtab names the sections too
  out.set(code, codeOff);
  out.set(license, licenseOff);
  out.set(strtab, strtabOff);
  // symbol 1: the program, global function in section 2
  const sym = symtabOff + 24;
  u32(sym, nameOffset("eop_probe_warmup"));
  v.setUint8(sym + 4, (1 << 4) | 2); // STB_GLOBAL, STT_FUNC
  u16(sym + 6, 2);
  u64(sym + 16, code.length);

  const header = (index: number, name: string, type: number, flags: number, offset: number, size: number, link = 0, info = 0, align = 1, entsize = 0): void => {
    const at = shoff + index * 64;
    u32(at, nameOffset(name));
    u32(at + 4, type);
    u64(at + 8, flags);
    u64(at + 24, offset);
    u64(at + 32, size);
    u32(at + 40, link);
    u32(at + 44, info);
    u64(at + 48, align);
    u64(at + 56, entsize);
  };
  header(1, ".strtab", 3, 0, strtabOff, strtab.length);
  header(2, SECTION, 1, 0x6, codeOff, code.length, 0, 0, 8);
  header(3, "license", 1, 0x3, licenseOff, license.length);
  header(4, ".symtab", 2, 0, symtabOff, symtabSize, 1, 1, 8, 24);
  return out;
}

/**
 * Settles libbpf's process-wide feature probes with the caller's full capabilities. Idempotent;
 * failures are ignored (a process that cannot load tracing programs gets the same answer later).
 */
export function warmUpFeatureProbes(): void {
  if (warmed) return;
  warmed = true;
  try {
    const object = native().openMem(warmUpObject(), "eop_warmup");
    try {
      object.load(0, 64 * 1024, []);
    } finally {
      object.close();
    }
  } catch {
    // the probe ran (or the process cannot load at all): nothing more to do
  }
}
