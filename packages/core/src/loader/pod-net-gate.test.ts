import { describe, expect, it } from "vitest";
import { XDP_META_BYTES, netGateInstructions, netGateSlot } from "./pod-net-gate.js";

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

const U64 = (1n << 64n) - 1n;
const CTX = 0x10000n;

/** What the gate did to one packet: bytes written (address -> value, by width), the tail call, the return value. */
interface Run {
  writes: Map<bigint, { bytes: number; value: bigint }>;
  tailCall?: { ctx: bigint; map: number; index: bigint };
  returned?: bigint;
  meta: bigint;
}

/**
 * A small interpreter of the opcodes the gate uses. The XDP context is `data`, `data_end`,
 * `data_meta` at CTX+0/4/8; `bpf_xdp_adjust_meta` moves data_meta when `headroom` allows. A
 * store into the context at CTX+48.. is a write to `skb->cb`.
 */
function run(code: Insn[], packet: { data: bigint; meta: bigint; headroom: bigint }): Run {
  const r: bigint[] = Array.from({ length: 11 }, () => 0n);
  r[1] = CTX;
  let meta = packet.meta;
  const maps = new Map<bigint, number>();
  const writes = new Map<bigint, { bytes: number; value: bigint }>();
  let tailCall: Run["tailCall"];
  let pc = 0;
  for (let steps = 0; steps < 1000; steps++) {
    const insn = code[pc];
    if (!insn) throw new Error(`pc ${pc} out of the program`);
    const target = () => pc + 1 + insn.off;
    switch (insn.code) {
      case 0xb7: // mov64 imm (sign-extended)
        r[insn.dst] = BigInt(insn.imm) & U64;
        break;
      case 0xb4: // mov32 imm (zero-extended)
        r[insn.dst] = BigInt(insn.imm >>> 0);
        break;
      case 0xbf:
        r[insn.dst] = r[insn.src]!;
        if (maps.has(r[insn.src]!)) maps.set(r[insn.dst]!, maps.get(r[insn.src]!)!);
        break;
      case 0x07:
        r[insn.dst] = (r[insn.dst]! + BigInt(insn.imm)) & U64;
        break;
      case 0x61: {
        // ldx w from the context
        expect(r[insn.src]).toBe(CTX);
        const field = { 0: packet.data, 8: meta }[insn.off as 0 | 8];
        if (field === undefined) throw new Error(`reads ctx+${insn.off}`);
        r[insn.dst] = field;
        break;
      }
      case 0x63: // stx w
      case 0x7b: // stx dw
        writes.set(r[insn.dst]! + BigInt(insn.off), {
          bytes: insn.code === 0x63 ? 4 : 8,
          value: insn.code === 0x63 ? r[insn.src]! & 0xffffffffn : r[insn.src]!,
        });
        break;
      case 0x18: {
        const next = code[pc + 1]!;
        expect(next).toMatchObject({ code: 0, dst: 0, src: 0, off: 0 });
        if (insn.src === 1) {
          const handle = BigInt(0x1000000 + insn.imm);
          maps.set(handle, insn.imm);
          r[insn.dst] = handle;
        } else {
          expect(insn.src).toBe(0);
          r[insn.dst] = (BigInt(next.imm >>> 0) << 32n) | BigInt(insn.imm >>> 0);
        }
        pc++;
        break;
      }
      case 0x55:
        if (r[insn.dst] !== (BigInt(insn.imm) & U64)) {
          pc = target();
          continue;
        }
        break;
      case 0x2d:
        if (r[insn.dst]! > r[insn.src]!) {
          pc = target();
          continue;
        }
        break;
      case 0x85:
        if (insn.imm === 54) {
          expect(r[1]).toBe(CTX);
          const delta = BigInt.asIntN(64, r[2]!);
          if (packet.data - (meta + delta) <= 32n && meta + delta >= packet.data - packet.headroom) {
            meta += delta;
            r[0] = 0n;
          } else r[0] = U64; // -EACCES
        } else if (insn.imm === 12) {
          tailCall = { ctx: r[1]!, map: maps.get(r[2]!)!, index: r[3]! };
          r[0] = 0n;
        } else throw new Error(`calls helper ${insn.imm}`);
        for (const reg of [1, 2, 3, 4, 5]) r[reg] = 0xdeadn; // clobbered by the call
        break;
      case 0x95:
        return { writes, ...(tailCall ? { tailCall } : {}), returned: r[0]!, meta };
      default:
        throw new Error(`opcode ${insn.code.toString(16)} at ${pc}`);
    }
    pc++;
  }
  throw new Error("runaway");
}

describe("the pod-scope network gate's instructions", () => {
  const ids = [1n, 4242n, 0x1_0000_0001n, 0xffff_fffe_8000_0001n];

  it("XDP: puts the pod's cgroup id in 8 bytes of metadata in front of the packet, then tail-calls slot 0 of the program array", () => {
    for (const id of ids) {
      const code = decode(netGateInstructions("xdp_meta", id, 9));
      const out = run(code, { data: 5000n, meta: 5000n, headroom: 256n });
      expect(out.meta).toBe(5000n - BigInt(XDP_META_BYTES));
      expect([...out.writes]).toEqual([[5000n - 8n, { bytes: 8, value: id }]]);
      expect(out.tailCall).toEqual({ ctx: CTX, map: 9, index: 0n });
      expect(out.returned).toBe(2n); // XDP_PASS when the slot is empty
    }
  });

  it("XDP: without headroom for metadata, still tail-calls, writing nothing (the program reads 0: no row is named)", () => {
    const out = run(decode(netGateInstructions("xdp_meta", 77n, 3)), { data: 5000n, meta: 5000n, headroom: 4n });
    expect(out.writes.size).toBe(0);
    expect(out.tailCall).toEqual({ ctx: CTX, map: 3, index: 0n });
  });

  it("XDP: metadata already there (a driver's) is extended, the id sits right at data_meta", () => {
    const out = run(decode(netGateInstructions("xdp_meta", 77n, 3)), { data: 5000n, meta: 4992n, headroom: 256n });
    expect([...out.writes]).toEqual([[4984n, { bytes: 8, value: 77n }]]);
  });

  it("socket filter: writes the id's halves into skb->cb[0] (low) and cb[1] (high), then tail-calls; returns 0 if the call fails", () => {
    for (const id of ids) {
      const out = run(decode(netGateInstructions("skb_cb", id, 11)), { data: 0n, meta: 0n, headroom: 0n });
      expect(out.writes.get(CTX + 48n)).toEqual({ bytes: 4, value: id & 0xffffffffn });
      expect(out.writes.get(CTX + 52n)).toEqual({ bytes: 4, value: id >> 32n });
      expect(out.writes.size).toBe(2);
      expect(out.tailCall).toEqual({ ctx: CTX, map: 11, index: 0n });
      expect(out.returned).toBe(0n);
    }
  });

  it("refuses 0 (what the program reads when no gate ran) and ids wider than 64 bits", () => {
    expect(() => netGateInstructions("xdp_meta", 0n, 3)).toThrow(/cannot identify a pod/);
    expect(() => netGateInstructions("skb_cb", 1n << 64n, 3)).toThrow(/cannot identify a pod/);
  });

  it("has a gate for the xdp and socket_filter kernel types only", () => {
    expect(netGateSlot("xdp")).toBe("xdp_meta");
    expect(netGateSlot("socket_filter")).toBe("skb_cb");
    expect(netGateSlot("sched_cls")).toBeUndefined();
    expect(netGateSlot("cgroup_skb")).toBeUndefined();
  });
});
