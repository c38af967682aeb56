import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { integerReader, readInteger } from "./map-values.js";

describe("integerReader", () => {
  it("reads the numbers readInteger reads, every size and signedness, edge values and random bytes", () => {
    const edges = [
      Buffer.alloc(8, 0),
      Buffer.alloc(8, 0xff),
      Buffer.from([0, 0, 0, 0x80, 0, 0, 0, 0x80]),
      Buffer.from([0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f]),
    ];
    const buffers = [...edges, ...Array.from({ length: 200 }, () => randomBytes(8))];
    for (const size of [1, 2, 4, 8]) {
      for (const signed of [false, true]) {
        const read = integerReader(size, signed);
        for (const b of buffers) {
          // At an odd offset too: rows of packed structs are not aligned.
          const shifted = Buffer.concat([Buffer.from([0x5a]), b]);
          expect(read(b, 0), `${size} ${signed} ${b.toString("hex")}`).toBe(readInteger(b, 0, size, signed));
          expect(read(shifted, 1)).toBe(readInteger(b, 0, size, signed));
        }
      }
    }
    expect(integerReader(8, true)(Buffer.alloc(8, 0xff), 0)).toBe(-1);
    expect(integerReader(8, false)(Buffer.from([1, 0, 0, 0, 1, 0, 0, 0]), 0)).toBe(4294967297);
  });

  it("refuses sizes that are not 1, 2, 4 or 8 bytes", () => {
    expect(() => integerReader(3, false)).toThrow(/3-byte/);
  });
});
