import { describe, expect, it } from "vitest";
import { l3ProtoDecoder } from "./l3-proto.js";

const text = (s: string) => Buffer.from(s, "latin1");

describe("l3ProtoDecoder", () => {
  it.each([
    ["2048", "ipv4"],
    ["34525", "ipv6"],
    ["2054", "arp"],
    ["33024", "vlan"],
    ["0", "unknown:0x0000"],
    ["34997", "unknown:0x88b5"],
    ["8", "unknown:0x0008"],
  ])("decodes %j as %s", (input, expected) => {
    expect(l3ProtoDecoder.decode(text(input), {})).toBe(expected);
  });
});
