import { describe, expect, it } from "vitest";
import { ipProtoDecoder } from "./ip-proto.js";

const text = (s: string) => Buffer.from(s, "latin1");

describe("ipProtoDecoder", () => {
  it.each([
    ["0", "hopopt"],
    ["1", "icmp"],
    ["6", "tcp"],
    ["17", "udp"],
    ["58", "icmpv6"],
    ["132", "sctp"],
    ["255", "raw"],
    ["254", "unknown:254"],
    ["99999", "unknown:99999"],
    ["udp", "unknown:0x756470"],
  ])("decodes %j as %s", (input, expected) => {
    expect(ipProtoDecoder.decode(text(input), {})).toBe(expected);
  });
});
