/**
 * Programs and maps outside any object (`BpfProgram.load`, `BpfMap.create`) and the dry-run
 * tracepoint attach check, on the real kernel: what the agent's pod-scope gate is built from.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { requireKernel } from "./kernel-test-support.js";
import { BpfLoadError, BpfMap, BpfProgram, LibbpfError, enableStats } from "./index.js";

requireKernel();

const insn = (code: number, dst: number, src: number, off: number, imm: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeUInt8(code, 0);
  b.writeUInt8((src << 4) | dst, 1);
  b.writeInt16LE(off, 2);
  b.writeInt32LE(imm, 4);
  return b;
};
const RETURN_0 = Buffer.concat([insn(0xb7, 0, 0, 0, 0), insn(0x95, 0, 0, 0, 0)]);
/** r0 = *(u32 *)(r1 + off); return 0 — a read of the context (the event's record) at `off`. */
const readCtx = (off: number) => Buffer.concat([insn(0x61, 0, 1, off, 0), insn(0xb7, 0, 0, 0, 0), insn(0x95, 0, 0, 0, 0)]);

describe("BpfMap.create", () => {
  it("creates a hash map the caller owns, with the name, sizes and type asked for", () => {
    using map = BpfMap.create({ type: "hash", name: "eop_test_hash", keySize: 8, valueSize: 16, maxEntries: 4 });
    expect(map.info).toMatchObject({ type: "hash", name: "eop_test_hash", keySize: 8, valueSize: 16, maxEntries: 4 });
    map.update(Buffer.alloc(8, 1), Buffer.alloc(16, 2));
    expect(map.lookup(Buffer.alloc(8, 1))).toEqual(Buffer.alloc(16, 2));
  });

  it("refuses a bad name before the kernel, and reports the kernel's refusal with errno", () => {
    expect(() => BpfMap.create({ type: "hash", name: "no spaces", keySize: 8, valueSize: 8, maxEntries: 1 })).toThrow(TypeError);
    expect(() => BpfMap.create({ type: "hash", name: "eop_test_zero", keySize: 0, valueSize: 8, maxEntries: 1 })).toThrow(LibbpfError);
  });
});

describe("BpfProgram.load", () => {
  it("loads a program from raw instructions and puts it into a program array of its type", () => {
    using program = BpfProgram.load({ type: "tracepoint", name: "eop_test_ret0", instructions: RETURN_0 });
    expect(program.info()).toMatchObject({ type: "tracepoint", name: "eop_test_ret0" });
    using calls = BpfMap.create({ type: "prog_array", name: "eop_test_calls", keySize: 4, valueSize: 4, maxEntries: 1 });
    const value = Buffer.alloc(4);
    value.writeUInt32LE(program.fd);
    calls.update(Buffer.alloc(4), value);
    // From user space a program array's value reads back as the program's id.
    expect(calls.lookup(Buffer.alloc(4))?.readUInt32LE(0)).toBe(program.info().id);
  });

  it("throws a BpfLoadError with the verifier's log when the kernel refuses the program", () => {
    const noExit = insn(0xb7, 0, 0, 0, 0);
    let error: unknown;
    try {
      BpfProgram.load({ type: "tracepoint", name: "eop_test_bad", instructions: noExit });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BpfLoadError);
    expect((error as BpfLoadError).verifierLog).not.toBe("");
    expect(() => BpfProgram.load({ type: "tracepoint", name: "eop_test_odd", instructions: Buffer.alloc(7) })).toThrow(TypeError);
  });
});

describe("BpfProgram.checkTracepointAttach", () => {
  it("passes a program that reads within the event's record, and refuses one reading past it (EACCES); neither ever runs", () => {
    using stats = enableStats();
    using within = BpfProgram.load({ type: "tracepoint", name: "eop_test_in", instructions: readCtx(8) }); // the syscall number, after the 8-byte common header
    expect(() => within.checkTracepointAttach("syscalls", "sys_enter_getpid")).not.toThrow();
    execFileSync("perl", ["-e", "syscall(39) for 1..5"]); // getpid: the event it was checked against
    expect(within.info().runCount).toBe(0n);
    void stats;
    using past = BpfProgram.load({ type: "tracepoint", name: "eop_test_past", instructions: readCtx(512) });
    let error: unknown;
    try {
      past.checkTracepointAttach("syscalls", "sys_enter_getpid");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LibbpfError);
    expect((error as LibbpfError).code).toBe("EACCES");
    expect(() => past.checkTracepointAttach("syscalls", "../x")).toThrow(TypeError);
  });
});
