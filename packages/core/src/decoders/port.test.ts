import { describe, expect, it } from "vitest";
import { port } from "./port.js";

describe("port decoder", () => {
  it.each([
    [Buffer.from([0x00, 0x50]), "80"],
    [Buffer.from([0x1f, 0x90]), "8080"],
    [Buffer.from([0xff, 0xff]), "65535"],
    [Buffer.from([0x00]), "unknown:0x00"],
  ])("decodes %o as %s", (input, expected) => {
    expect(port.decode(input, {})).toBe(expected);
  });
});
