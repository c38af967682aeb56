import { describe, expect, it } from "vitest";
import { xdpPlugin } from "./xdp-plugin.js";
import { XDP_TARGET_PATTERN, matchesGlob, parseXdpTarget } from "./xdp-target.js";

describe("parseXdpTarget", () => {
  it.each([
    ["eth0", ["eth0"], "auto"],
    ["xdp/eth0", ["eth0"], "auto"],
    ["eth0,eth1", ["eth0", "eth1"], "auto"],
    ["eth0,eth0", ["eth0"], "auto"],
    ["veth*", ["veth*"], "auto"],
    ["xdp/veth*,lo?mode=generic", ["veth*", "lo"], "generic"],
    ["eth0?mode=native", ["eth0"], "native"],
    ["eth0?mode=auto", ["eth0"], "auto"],
    ["enp0s31f6.100", ["enp0s31f6.100"], "auto"],
    ["a23456789012345", ["a23456789012345"], "auto"],
  ])("reads %s as interfaces %j in %s mode", (target, interfaces, mode) => {
    expect(parseXdpTarget(target)).toEqual({ interfaces, mode });
    expect(new RegExp(XDP_TARGET_PATTERN).test(target)).toBe(true);
  });

  it.each(["", "xdp/", "eth0,", ",eth0", "eth0?mode=offload", "eth0?mode=", "eth0?generic", "eth 0", "eth0/1", "a234567890123456", "xdp/../x"])(
    "refuses %j with the expected syntax",
    (target) => {
      expect(() => parseXdpTarget(target)).toThrow(
        expect.objectContaining({ code: "EOP_ERR_TARGET_INVALID", message: expect.stringContaining("?mode=auto|native|generic") }),
      );
    },
  );

  it.each([".", "..", "eth0,.."])("refuses the directory name in %j", (target) => {
    expect(() => parseXdpTarget(target)).toThrow(expect.objectContaining({ code: "EOP_ERR_TARGET_INVALID" }));
  });
});

describe("matchesGlob", () => {
  it.each([
    ["veth*", "veth0", true],
    ["veth*", "veth", true],
    ["veth*", "eth0", false],
    ["*", "lo", true],
    ["e*0", "eth0", true],
    ["e*0", "eth1", false],
    ["eth0.1*", "eth0x1", false],
    ["eth0", "eth0", true],
    ["eth0", "eth01", false],
  ])("matches %s against %s: %s", (glob, name, expected) => {
    expect(matchesGlob(glob, name)).toBe(expected);
  });
});

describe("xdp pod scope", () => {
  const scope = xdpPlugin.podScope!;
  const pod = { directory: "/sys/fs/cgroup/kubepods/podx", path: "/kubepods/podx", namespace: "alice", pod: "web", netns: { fd: 42, inode: 1n } };

  it("attaches in the pod's network namespace, to every interface of the pod (target *), keeping the mode", () => {
    expect(scope.network).toBe(true);
    for (const target of ["*", "xdp/*", "xdp/*?mode=generic"]) expect(() => scope.check("xdp", parseXdpTarget(target))).not.toThrow();
    expect(scope.target!("xdp", parseXdpTarget("xdp/*?mode=native"), pod)).toEqual({ interfaces: ["*"], mode: "native", podNetnsFd: 42 });
  });

  it.each(["eth0", "xdp/eth0,eth1", "veth*", "*,eth0"])("refuses %s in pod scope: names inside a pod are the pod's to choose", (target) => {
    expect(() => scope.check("xdp", parseXdpTarget(target))).toThrow(
      expect.objectContaining({ code: "EOP_ERR_TARGET_INVALID", message: expect.stringContaining('so the target must be "*"') }),
    );
  });
});
