import { describe, expect, it } from "vitest";
import { socketPlugin } from "./socket-plugin.js";
import { SOCKET_TARGET_PATTERN, parseSocketTarget } from "./socket-target.js";

describe("parseSocketTarget", () => {
  it.each([
    ["lo", "lo"],
    ["eth0", "eth0"],
    ["sockfilter/eth0", "eth0"],
    ["enp0s31f6.100", "enp0s31f6.100"],
    ["a23456789012345", "a23456789012345"],
    ["*", "*"],
    ["sockfilter/*", "*"],
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

describe("socket pod scope", () => {
  const scope = socketPlugin.podScope!;
  const pod = { directory: "/sys/fs/cgroup/kubepods/podx", path: "/kubepods/podx", namespace: "alice", pod: "web", netns: { fd: 42, inode: 1n } };

  it("runs in the pod's network namespace, on every interface of the pod (target *)", () => {
    expect(scope.network).toBe(true);
    expect(() => scope.check("socket", parseSocketTarget("sockfilter/*"))).not.toThrow();
    expect(scope.target!("socket", parseSocketTarget("*"), pod)).toEqual({ interface: "*", podNetnsFd: 42 });
  });

  it.each(["eth0", "sockfilter/lo"])("refuses the interface name %s in pod scope: names inside a pod are the pod's to choose", (target) => {
    expect(() => scope.check("socket", parseSocketTarget(target))).toThrow(
      expect.objectContaining({ code: "EOP_ERR_TARGET_INVALID", message: expect.stringContaining('so the target must be "*" (sockfilter/*)') }),
    );
  });

  it("refuses * without a selector: it names no interface of the node", async () => {
    await expect(socketPlugin.resolveTarget!("socket", parseSocketTarget("*"), undefined as never)).rejects.toMatchObject({
      code: "EOP_ERR_TARGET_INVALID",
      message: expect.stringContaining("it needs spec.selector"),
    });
  });
});
