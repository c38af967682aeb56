import { describe, expect, it } from "vitest";
import { SOCKET_TARGET_PATTERN, parseSocketTarget } from "./socket-target.js";

describe("parseSocketTarget", () => {
  it.each([
    ["lo", "lo"],
    ["eth0", "eth0"],
    ["sockfilter/eth0", "eth0"],
    ["enp0s31f6.100", "enp0s31f6.100"],
    ["a23456789012345", "a23456789012345"],
  ])("reads %s as interface %s", (target, iface) => {
    expect(parseSocketTarget(target)).toEqual({ interface: iface });
    expect(new RegExp(SOCKET_TARGET_PATTERN).test(target)).toBe(true);
  });

  it.each(["", "sockfilter/", "eth0,eth1", "veth*", "eth 0", "a/b", "a234567890123456", "..", "sockfilter/."])(
    "refuses %j with the expected syntax",
    (target) => {
      expect(() => parseSocketTarget(target)).toThrow(
        expect.objectContaining({ code: "EOP_ERR_TARGET_INVALID", message: expect.stringContaining("[sockfilter/]<interface>") }),
      );
    },
  );
});
