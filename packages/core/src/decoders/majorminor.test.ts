import { describe, expect, it } from "vitest";
import { majorminor } from "./majorminor.js";
import { leBytes } from "./test-support.js";

describe("majorminor decoder", () => {
  it.each([
    [leBytes((8 << 20) | 1, 4), "8:1"],
    [leBytes((259 << 20) | 0xfffff, 4), "259:1048575"],
    [leBytes(0, 8), "0:0"],
    [leBytes((253 << 20) | 3, 8), "253:3"],
    [Buffer.from([1, 2]), "unknown:0x0102"],
  ])("decodes %o as %s", (input, expected) => {
    expect(majorminor.decode(input, {})).toBe(expected);
  });
});
