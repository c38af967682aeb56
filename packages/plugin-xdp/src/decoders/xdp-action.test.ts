import { describe, expect, it } from "vitest";
import { xdpActionDecoder } from "./xdp-action.js";

const text = (s: string) => Buffer.from(s, "latin1");

describe("xdpActionDecoder", () => {
  it.each([
    ["0", "aborted"],
    ["1", "drop"],
    ["2", "pass"],
    ["3", "tx"],
    ["4", "redirect"],
    ["5", "unknown:5"],
    ["4294967295", "unknown:4294967295"],
    ["", "unknown:0x"],
    ["-1", "unknown:-1"],
    ["99999999999999999999", "unknown:99999999999999999999"],
    ["2 ", "unknown:0x3220"],
  ])("decodes %j as %s", (input, expected) => {
    expect(xdpActionDecoder.decode(text(input), {})).toBe(expected);
  });

  it("does not guess at raw integer bytes", () => {
    expect(xdpActionDecoder.decode(Buffer.from([2, 0, 0, 0]), {})).toBe("unknown:0x02000000");
  });
});
