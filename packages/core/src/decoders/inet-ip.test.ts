import { describe, expect, it } from "vitest";
import { inetIp } from "./inet-ip.js";

const v6 = (text: string) => {
  const groups = text.split(":").map((g) => parseInt(g, 16));
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
};

describe("inet_ip decoder", () => {
  it.each([
    [Buffer.from([10, 0, 0, 1]), "10.0.0.1"],
    [Buffer.from([255, 255, 255, 255]), "255.255.255.255"],
    [Buffer.from([0, 0, 0, 0]), "0.0.0.0"],
    [v6("2001:db8:0:0:0:0:0:1"), "2001:db8::1"],
    [v6("0:0:0:0:0:0:0:1"), "::1"],
    [v6("0:0:0:0:0:0:0:0"), "::"],
    [v6("fe80:0:0:0:1:0:0:1"), "fe80::1:0:0:1"],
    [v6("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1"],
    [v6("0:0:0:0:0:ffff:a00:1"), "::ffff:10.0.0.1"],
    [Buffer.from([1, 2, 3]), "unknown:0x010203"],
  ])("decodes %o as %s", (input, expected) => {
    expect(inetIp.decode(input, {})).toBe(expected);
  });
});
