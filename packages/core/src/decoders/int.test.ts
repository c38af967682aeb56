import { describe, expect, it } from "vitest";
import { int } from "./int.js";
import { leBytes } from "./test-support.js";

describe("int decoder", () => {
  it.each([
    [leBytes(-1, 1), "-1"],
    [leBytes(127, 1), "127"],
    [leBytes(-128, 1), "-128"],
    [leBytes(-2, 4), "-2"],
    [leBytes(2 ** 31 - 1, 4), "2147483647"],
    [leBytes(-(2n ** 63n), 8), "-9223372036854775808"],
    [leBytes(0, 8), "0"],
  ])("reads %o as %s", (input, expected) => {
    expect(int.decode(input, { endianness: "little" })).toBe(expected);
  });

  it("turns a 9-byte input into unknown", () => {
    expect(int.decode(Buffer.alloc(9), {})).toMatch(/^unknown:/);
  });
});
