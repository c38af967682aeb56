import { describe, expect, it } from "vitest";
import { HOST_LITTLE_ENDIAN } from "./input.js";
import { leBytes } from "./test-support.js";
import { uint } from "./uint.js";

describe("uint decoder", () => {
  it.runIf(HOST_LITTLE_ENDIAN).each([
    [leBytes(0, 1), "0"],
    [leBytes(255, 1), "255"],
    [leBytes(0x1234, 2), "4660"],
    [leBytes(0xffffffff, 4), "4294967295"],
    [leBytes(0x10203, 3), "66051"],
    [leBytes(2n ** 64n - 1n, 8), "18446744073709551615"],
    [leBytes(2n ** 53n + 1n, 8), "9007199254740993"],
  ])("reads %o as %s in host order", (input, expected) => {
    expect(uint.decode(input, {})).toBe(expected);
  });

  it.each([
    [{ endianness: "big" }, Buffer.from([0x12, 0x34]), "4660"],
    [{ endianness: "little" }, Buffer.from([0x12, 0x34]), "13330"],
  ])("honours %o", (options, input, expected) => {
    expect(uint.decode(input, options)).toBe(expected);
  });

  it.each([
    [Buffer.alloc(0), "unknown:0x"],
    [Buffer.alloc(9, 1), "unknown:0x010101010101010101"],
  ])("turns a %o-byte input into %s", (input, expected) => {
    expect(uint.decode(input, {})).toBe(expected);
  });

  it("refuses an unknown endianness", () => {
    expect(uint.checkOptions?.({ endianness: "middle" })).toMatch(/endianness/);
    expect(uint.checkOptions?.({ endianness: "big" })).toBeUndefined();
  });
});
