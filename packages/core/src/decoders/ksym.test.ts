import { describe, expect, it } from "vitest";
import { createKsymDecoder, findSymbol, parseKallsyms } from "./ksym.js";
import { leBytes } from "./test-support.js";

const KALLSYMS = `ffffffff81000000 T _stext
ffffffff81001000 T do_one
ffffffff81000800 t sorted_later
0000000000000000 A zero_dropped
ffffffffc0000000 t mod_fn\t[mymod]
`;

describe("parseKallsyms and findSymbol", () => {
  const table = parseKallsyms(KALLSYMS);
  it("sorts by address and drops zero addresses", () => {
    expect(table.names).toEqual(["_stext", "sorted_later", "do_one", "mod_fn"]);
  });
  it.each([
    [0xffffffff80ffffffn, -1],
    [0xffffffff81000000n, 0],
    [0xffffffff810007ffn, 0],
    [0xffffffff81000800n, 1],
    [0xffffffff81001234n, 2],
    [0xffffffffc0000010n, 3],
    [0xffffffffffffffffn, 3],
  ])("finds the symbol containing %s at index %i", (address, index) => {
    expect(findSymbol(table, address)).toBe(index);
  });
});

describe("ksym decoder", () => {
  it.each([
    [leBytes(0xffffffff81001010n, 8), "do_one"],
    [leBytes(0xffffffff81000004n, 8), "_stext"],
    [leBytes(0x1000, 8), "unknown:0x1000"],
    [leBytes(1, 4), "unknown:0x01000000"],
  ])("decodes %o as %s", (input, expected) => {
    const decoder = createKsymDecoder({ readKallsyms: () => KALLSYMS });
    expect(decoder.decode(input, {})).toBe(expected);
  });

  it("re-reads kallsyms for an address beyond the table at most once per retry period", () => {
    let now = 0;
    let reads = 0;
    let text = KALLSYMS;
    const decoder = createKsymDecoder({ readKallsyms: () => (reads++, text), retryMs: 1000, now: () => now });
    const address = leBytes(0xfffffffff0000000n, 8);
    expect(decoder.decode(address, {})).toBe("mod_fn");
    text += "fffffffff0000000 t new_module_fn\t[new]\n";
    expect(decoder.decode(address, {})).toBe("mod_fn"); // within the retry period
    now = 1000;
    expect(decoder.decode(address, {})).toBe("new_module_fn");
    expect(reads).toBe(2);
  });

  it("answers unknown when kallsyms cannot be read", () => {
    const decoder = createKsymDecoder({
      readKallsyms: () => {
        throw new Error("EACCES");
      },
    });
    expect(decoder.decode(leBytes(0xffffffff81000000n, 8), {})).toBe("unknown:0xffffffff81000000");
  });
});
