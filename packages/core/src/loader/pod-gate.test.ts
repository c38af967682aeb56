import { describe, expect, it } from "vitest";
import { GATE_MAX_LEVEL, gateInstructions } from "./pod-gate.js";

interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

function decode(buffer: Buffer): Insn[] {
  const out: Insn[] = [];
  for (let i = 0; i < buffer.length; i += 8) {
    out.push({ code: buffer[i]!, dst: buffer[i + 1]! & 15, src: buffer[i + 1]! >> 4, off: buffer.readInt16LE(i + 2), imm: buffer.readInt32LE(i + 4) });
  }
  return out;
}

/**
 * Runs the gate's instructions with a small interpreter of the few opcodes it uses: the task's
 * cgroup ancestors (index = level; the helper returns 0 past the task's own level) and the
 * filter's keys. Returns whether the gate tail-calls (and with what), or returns without.
 */
function run(code: Insn[], ancestors: bigint[], filter: Set<bigint>, filterFd = 7): { tailCall?: { ctx: bigint; map: number; index: bigint }; steps: number } {
  const r: bigint[] = Array.from({ length: 11 }, () => 0n);
  const CTX = 0xc0ffeen;
  r[1] = CTX;
  r[10] = 1000n;
  const stack = new Map<bigint, bigint>();
  const maps = new Map<bigint, number>(); // a register holding a map fd (ld_imm64 pseudo map fd)
  let pc = 0;
  let steps = 0;
  let tailCall: { ctx: bigint; map: number; index: bigint } | undefined;
  for (;;) {
    if (++steps > 10_000) throw new Error("runaway");
    const insn = code[pc];
    if (!insn) throw new Error(`pc ${pc} out of the program`);
    switch (insn.code) {
      case 0xb7:
        r[insn.dst] = BigInt(insn.imm);
        break;
      case 0xbf:
        r[insn.dst] = r[insn.src]!;
        if (maps.has(r[insn.src]!)) maps.set(r[insn.dst]!, maps.get(r[insn.src]!)!);
        break;
      case 0x07:
        r[insn.dst] = r[insn.dst]! + BigInt(insn.imm);
        break;
      case 0x7b:
        stack.set(r[insn.dst]! + BigInt(insn.off), r[insn.src]!);
        break;
      case 0x18: {
        expect(insn.src).toBe(1); // BPF_PSEUDO_MAP_FD
        expect(code[pc + 1]).toEqual({ code: 0, dst: 0, src: 0, off: 0, imm: 0 });
        const handle = BigInt(0x1000000 + insn.imm);
        maps.set(handle, insn.imm);
        r[insn.dst] = handle;
        pc++;
        break;
      }
      case 0x85:
        if (insn.imm === 123) {
          const level = Number(r[1]);
          r[0] = ancestors[level] ?? 0n;
        } else if (insn.imm === 1) {
          expect(maps.get(r[1]!)).toBe(filterFd);
          r[0] = filter.has(stack.get(r[2]!)!) ? 1n : 0n;
        } else if (insn.imm === 12) {
          tailCall = { ctx: r[1]!, map: maps.get(r[2]!)!, index: r[3]! };
          return { tailCall: { ...tailCall, ctx: tailCall.ctx === CTX ? 1n : 0n }, steps };
        } else throw new Error(`helper ${insn.imm}`);
        break;
      case 0x15:
        if (r[insn.dst] === BigInt(insn.imm)) pc += insn.off;
        break;
      case 0x55:
        if (r[insn.dst] !== BigInt(insn.imm)) pc += insn.off;
        break;
      case 0x95:
        expect(r[0]).toBe(0n);
        return { steps };
      default:
        throw new Error(`opcode 0x${insn.code.toString(16)}`);
    }
    pc++;
  }
}

describe("the pod-scope gate's instructions", () => {
  const code = decode(gateInstructions(7, 9));
  const root = 1n;
  const kubepods = 100n;
  const alicePod = 200n;
  const aliceContainer = 201n;
  const bobPod = 300n;
  const bobContainer = 301n;

  it.each([
    ["a task in alice's container", [root, kubepods, alicePod, aliceContainer], true],
    ["a task in alice's pod cgroup itself", [root, kubepods, alicePod], true],
    ["a task in a cgroup made below alice's container", [root, kubepods, alicePod, aliceContainer, 202n, 203n], true],
    ["a task in bob's container", [root, kubepods, bobPod, bobContainer], false],
    ["a task in the root cgroup", [root], false],
    ["a host task beside kubepods", [root, 50n, 51n], false],
  ] as const)("%s: tail-calls the tenant's program %s", (_what, ancestors, through) => {
    const result = run(code, [...ancestors], new Set([alicePod]));
    if (through) expect(result.tailCall).toEqual({ ctx: 1n, map: 9, index: 0n });
    else expect(result.tailCall).toBeUndefined();
  });

  it("finds a pod at the deepest level it walks, and not one below it", () => {
    const deep = Array.from({ length: GATE_MAX_LEVEL + 2 }, (_, level) => BigInt(1000 + level));
    expect(run(code, deep, new Set([deep[GATE_MAX_LEVEL]!])).tailCall).toBeDefined();
    expect(run(code, deep, new Set([deep[GATE_MAX_LEVEL + 1]!])).tailCall).toBeUndefined();
  });

  it("never looks at level 0 (the root cgroup is no pod), and stops at the task's own level", () => {
    expect(run(code, [root], new Set([root])).tailCall).toBeUndefined();
    const shallow = run(code, [root, 10n], new Set());
    const deeper = run(code, [root, 10n, 11n, 12n], new Set());
    expect(shallow.steps).toBeLessThan(deeper.steps);
    expect(deeper.steps).toBeLessThan(60);
  });

  it("has every jump inside the program and embeds the agent's map fds only", () => {
    code.forEach((insn, pc) => {
      if (insn.code === 0x15 || insn.code === 0x55) {
        expect(pc + 1 + insn.off).toBeGreaterThan(pc);
        expect(pc + 1 + insn.off).toBeLessThan(code.length);
      }
    });
    expect(code.filter((i) => i.code === 0x18).map((i) => i.imm)).toEqual([...Array.from({ length: GATE_MAX_LEVEL }, () => 7), 9]);
    expect(code.at(-1)!.code).toBe(0x95);
  });
});
