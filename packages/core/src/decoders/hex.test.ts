import { describe, expect, it } from "vitest";
import { hex } from "./hex.js";

describe("hex decoder", () => {
  it.each([
    [Buffer.from([0x0a, 0x0b]), "0a0b"],
    [Buffer.alloc(0), ""],
    [Buffer.from([0xff]), "ff"],
  ])("decodes %o as %j", (input, expected) => {
    expect(hex.decode(input, {})).toBe(expected);
  });
});
