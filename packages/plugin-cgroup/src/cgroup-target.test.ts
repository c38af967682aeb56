import { describe, expect, it } from "vitest";
import { CGROUP_TARGET_PATTERN, parseCgroupTarget } from "./cgroup-target.js";

describe("parseCgroupTarget", () => {
  it.each([
    ["cgroup/skb/egress:/system.slice", "cgroup_skb", "cgroup_inet_egress", "/system.slice"],
    ["cgroup/skb/ingress:system.slice/nginx.service", "cgroup_skb", "cgroup_inet_ingress", "system.slice/nginx.service"],
    ["cgroup/skb:/", "cgroup_skb", "cgroup_inet_egress", "/"],
    ["cgroup/sock_create:/a", "cgroup_sock", "cgroup_inet_sock_create", "/a"],
    ["cgroup/sock:/a", "cgroup_sock", "cgroup_inet_sock_create", "/a"],
    ["cgroup/connect4:/kubepods.slice/", "cgroup_sock_addr", "cgroup_inet4_connect", "/kubepods.slice/"],
    ["cgroup/connect6:/a", "cgroup_sock_addr", "cgroup_inet6_connect", "/a"],
    ["cgroup/sendmsg4:/a", "cgroup_sock_addr", "cgroup_udp4_sendmsg", "/a"],
    ["sockops:/sys/fs/cgroup/unified/test", "sock_ops", "cgroup_sock_ops", "/sys/fs/cgroup/unified/test"],
    ["cgroup/skb/egress:/user.slice/user-1000.slice/user@1000.service", "cgroup_skb", "cgroup_inet_egress", "/user.slice/user-1000.slice/user@1000.service"],
  ])("reads %s as %s / %s on %s", (target, programType, attachType, cgroup) => {
    expect(parseCgroupTarget(target)).toMatchObject({ programType, attachType, cgroup });
    expect(new RegExp(CGROUP_TARGET_PATTERN).test(target)).toBe(true);
  });

  it.each(["/system.slice", "cgroup/skb/egress", "cgroup/skb/sideways:/a", "cgroup_skb:/a", "xdp:/a", "", ":/a"])("refuses %j, naming the hooks", (target) => {
    expect(() => parseCgroupTarget(target)).toThrow(
      expect.objectContaining({ code: "EOP_ERR_TARGET_INVALID", message: expect.stringContaining("cgroup/skb/egress, cgroup/skb/ingress") }),
    );
    expect(new RegExp(CGROUP_TARGET_PATTERN).test(target)).toBe(false);
  });

  it.each([
    "cgroup/skb/egress:",
    "cgroup/skb/egress:../etc",
    "cgroup/skb/egress:/a/../../etc",
    "cgroup/skb/egress:/a/./b",
    "cgroup/skb/egress:/a b",
    "sockops://a",
  ])("refuses the path in %j", (target) => {
    expect(() => parseCgroupTarget(target)).toThrow(expect.objectContaining({ code: "EOP_ERR_TARGET_INVALID" }));
  });
});
