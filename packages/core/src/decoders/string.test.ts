import { describe, expect, it } from "vitest";
import { string } from "./string.js";

describe("string decoder", () => {
  it.each([
    [Buffer.from("bash\0\0\0\0\0\0\0\0\0\0\0\0"), "bash"],
    [Buffer.from("exactly16bytes!!"), "exactly16bytes!!"],
    [Buffer.from("a\0b"), "a"],
    [Buffer.alloc(0), ""],
    [Buffer.from("\0garbage"), ""],
    [Buffer.from("caf\xc3\xa9\0", "latin1"), "café"],
    [Buffer.from([0x66, 0xff, 0x6f, 0]), "f\ufffdo"],
  ])("decodes %o as %j", (input, expected) => {
    expect(string.decode(input, {})).toBe(expected);
  });

  it("always returns valid UTF-8 text", () => {
    const out = string.decode(Buffer.from([0xc3, 0x28, 0xe2, 0x82]), {}) as string;
    expect(Buffer.from(out, "utf8").toString("utf8")).toBe(out);
    expect(out).not.toMatch(/[\ud800-\udfff]/);
  });
});
