import { describe, expect, it } from "vitest";
import { analyzeVerifierLog, formatVerifierRejection, scrubKernelAddresses } from "./verifier-report.js";

// A 6.18 log as a privileged loader gets it (map addresses included), trimmed.
const LOG = `func#0 @0
0: R1=ctx() R10=fp0
; int count(void *ctx) { @ program.bpf.c:14
0: (b7) r1 = 0                        ; R1_w=0
; u32 k = 0; @ program.bpf.c:15
1: (63) *(u32 *)(r10 -4) = r1         ; R1_w=0 R10=fp0 fp-8=0000????
2: (bf) r2 = r10                      ; R2_w=fp0 R10=fp0
3: (07) r2 += -4                      ; R2_w=fp-4
; u64 *v = bpf_map_lookup_elem(&counts, &k); @ program.bpf.c:16
4: (18) r1 = 0xffff8881045a3c00       ; R1_w=map_ptr(ks=4,vs=8)
6: (85) call bpf_map_lookup_elem#1    ; R0_w=map_value_or_null(id=1,ks=4,vs=8)
;  @ program.bpf.c:17
7: (79) r1 = *(u64 *)(r0 +0)
R0 invalid mem access 'map_value_or_null'
processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
`;

describe("scrubKernelAddresses", () => {
  it("replaces kernel addresses in hex, bare hex and decimal", () => {
    expect(scrubKernelAddresses("r1 = 0xffff8881045a3c00")).toBe("r1 = 0x<kernel-address>");
    expect(scrubKernelAddresses("r1 = 0xffffffff82a0c940 ;")).toBe("r1 = 0x<kernel-address> ;");
    expect(scrubKernelAddresses("map at ffff8881045a3c00")).toBe("map at <kernel-address>");
    expect(scrubKernelAddresses("R1=18446612686428527616")).toBe("R1=<kernel-address>"); // 0xffff8881045a3c00
    expect(scrubKernelAddresses("R1=-131387281024000")).toBe("R1=<kernel-address>");
  });

  it("keeps numbers that are not kernel addresses: bounds, -1, small values, user addresses", () => {
    const kept = "umax=18446744073709551615 smin=-9223372036854775808 r0 = -1 r2 = 0x7fffffffe000 imm=0 var_off=(0x0; 0xffffffff) r3 = 0xfffffffffffffff2";
    expect(scrubKernelAddresses(kept)).toBe(kept);
  });
});

describe("analyzeVerifierLog", () => {
  it("finds the reason, the instruction and the source line, and scrubs the tail", () => {
    const report = analyzeVerifierLog(LOG);
    expect(report.reason).toBe("R0 invalid mem access 'map_value_or_null'");
    expect(report.instruction).toBe(7);
    expect(report.source).toEqual({ file: "program.bpf.c", line: 17, text: "" });
    expect(report.tail.join("\n")).not.toMatch(/ffff8881/);
    expect(report.tail.join("\n")).toContain("r1 = 0x<kernel-address>");
  });

  it("takes the line's text from the tenant's source when line info has none", () => {
    const source = Array.from({ length: 20 }, (_, i) => (i === 16 ? "  *v += 1;" : ""));
    expect(analyzeVerifierLog(LOG, { sourceLines: source }).source).toEqual({ file: "program.bpf.c", line: 17, text: "*v += 1;" });
  });

  it("reads logs of kernels that print the source text without file and line", () => {
    const old = "; if (v) *v += 1;\n7: (79) r1 = *(u64 *)(r0 +0)\nR0 invalid mem access 'map_value_or_null'\nprocessed 7 insns";
    expect(analyzeVerifierLog(old).source).toEqual({ text: "if (v) *v += 1;" });
  });
});

describe("formatVerifierRejection", () => {
  it("puts the reason and the source line first, the scrubbed log after", () => {
    const source = Array.from({ length: 20 }, (_, i) => (i === 16 ? "  *v += 1;" : ""));
    const text = formatVerifierRejection(LOG, { sourceLines: source, tailLines: 5 });
    const [first, second] = text.split("\n");
    expect(first).toBe("R0 invalid mem access 'map_value_or_null' (at program.bpf.c:17: `*v += 1;`)");
    expect(second).toBe("verifier log (last 5 lines):");
    expect(text).not.toMatch(/0xffff[0-9a-f]{12}/);
  });
});
