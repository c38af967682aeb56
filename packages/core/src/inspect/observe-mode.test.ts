import { describe, expect, it } from "vitest";
import { inspectObject } from "./inspect-object.js";
import { INSN_SIZE, OPCODE, decodeInsn, encodeInsn, type Insn } from "./insn.js";
import { OBSERVE_VERDICTS, rewriteExits } from "./observe-mode.js";
import { importCode } from "./test-code.js";
import { compileObject, program } from "./test-objects.js";

const LE = true;
const asm = (insns: Insn[]): Uint8Array => {
  const out = new Uint8Array(insns.length * INSN_SIZE);
  insns.forEach((insn, i) => out.set(encodeInsn(insn, LE), i * INSN_SIZE));
  return out;
};
const decode = (bytes: Uint8Array): Insn[] => Array.from({ length: bytes.byteLength / INSN_SIZE }, (_, i) => decodeInsn(bytes, i, LE));
const ins = (code: number, fields: Partial<Insn> = {}): Insn => ({ code, dst: 0, src: 0, off: 0, imm: 0, ...fields });

describe("rewriteExits", () => {
  it("turns every exit into a jump to an appended `r0 = verdict; exit`", () => {
    const original = asm([
      ins(OPCODE.MOV64_IMM, { imm: 1 }), // r0 = XDP_DROP
      ins(0x15, { dst: 1, off: 1 }), // if r1 == 0 goto +1
      ins(OPCODE.EXIT),
      ins(OPCODE.MOV64_IMM, { imm: 0 }),
      ins(OPCODE.EXIT),
    ]);
    const { bytes, exits } = rewriteExits(original, 2, LE);
    const out = decode(bytes);
    expect(exits).toBe(2);
    expect(out).toHaveLength(7);
    // Each former exit jumps to index 5, the epilogue.
    expect(out[2]).toEqual(ins(OPCODE.JA, { off: 5 - 2 - 1 }));
    expect(out[4]).toEqual(ins(OPCODE.JA, { off: 5 - 4 - 1 }));
    expect(out[5]).toEqual(ins(OPCODE.MOV64_IMM, { imm: 2 }));
    expect(out[6]).toEqual(ins(OPCODE.EXIT));
    // The only exit left is the epilogue's; everything else is untouched.
    expect(out.filter((i) => i.code === OPCODE.EXIT)).toHaveLength(1);
    expect(out.slice(0, 2)).toEqual(decode(original).slice(0, 2));
  });

  it("leaves the data half of `r = imm64` alone even when it looks like an exit", () => {
    const original = asm([ins(OPCODE.LD_IMM64, { dst: 1, imm: 7 }), ins(OPCODE.EXIT, { imm: 0 }), ins(OPCODE.EXIT)]);
    const out = decode(rewriteExits(original, 1, LE).bytes);
    expect(out[1]).toEqual(ins(OPCODE.EXIT));
    expect(out[2]).toEqual(ins(OPCODE.JA, { off: 0 }));
  });

  it("refuses functions a 16-bit jump cannot span", () => {
    expect(() => rewriteExits(new Uint8Array(40_000 * INSN_SIZE), 2, LE)).toThrow(/at most 32767/);
  });

  it("rewrites a compiled XDP program so that no path returns the tenant's verdict", async () => {
    const source = program(`
static __attribute__((noinline)) int decide(struct xdp_md *ctx) { return ctx->ingress_ifindex ? XDP_DROP : XDP_ABORTED; }
SEC("xdp")
int x(struct xdp_md *ctx) {
  if (ctx->rx_queue_index == 3) return XDP_TX;
  return decide(ctx);
}
`);
    const report = inspectObject(await compileObject(source));
    const fn = report.functions.find((f) => f.name === "x")!;
    expect(fn.exits.length).toBeGreaterThanOrEqual(1);
    const bytes = importCode(report, "x");
    const out = decode(rewriteExits(bytes, OBSERVE_VERDICTS.get("xdp")!, LE).bytes);
    const epilogue = out.length - 2;
    out.forEach((insn, i) => {
      if (insn.code === OPCODE.EXIT) expect(i).toBe(epilogue + 1);
      if (insn.code === OPCODE.JA && i < epilogue && decode(bytes)[i]!.code === OPCODE.EXIT) expect(i + 1 + insn.off).toBe(epilogue);
    });
    expect(out[epilogue]).toEqual(ins(OPCODE.MOV64_IMM, { imm: 2 }));
  });
});
