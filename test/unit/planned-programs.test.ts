// The operator-side check, end to end without a kernel: compile (real clang), inspect, ask the
// plugin which kernel types the programs get, check against tenant rules.
import { describe, expect, it } from "vitest";
import { DEFAULT_TENANT_RULES, PluginRegistry, checkObjectAgainst, inspectObject, plannedPrograms } from "@ebpf-operator/core";
import { compileObject, program } from "../../packages/core/src/inspect/test-objects.js";
import { cgroupPlugin } from "../../packages/plugin-cgroup/src/cgroup-plugin.js";
import { xdpPlugin } from "../../packages/plugin-xdp/src/xdp-plugin.js";

const registry = new PluginRegistry();
registry.register(cgroupPlugin);
registry.register(xdpPlugin);

describe("plannedPrograms", () => {
  it("gives the kernel type the plugin will load the program as, whatever its section says", async () => {
    const code = program(`SEC("cgroup_skb/egress")\nint hook(void *ctx) { return 1; }\n`);
    const bytes = await compileObject(code);
    expect(await plannedPrograms(registry, { type: "cgroup", target: "cgroup/skb/ingress:/x", program: "hook" }, bytes)).toEqual([
      { name: "hook", type: "cgroup_skb", attachType: "cgroup_inet_ingress" },
    ]);
    const connect = await plannedPrograms(registry, { type: "cgroup", target: "cgroup/connect4:/x", program: "hook" }, bytes);
    expect(connect).toEqual([{ name: "hook", type: "cgroup_sock_addr", attachType: "cgroup_inet4_connect" }]);
    // An operator checking this object for an observe-mode namespace refuses it before any node sees it.
    const violations = checkObjectAgainst(inspectObject(bytes, { source: code }), DEFAULT_TENANT_RULES, { attached: connect, possibleCpus: 1 });
    expect(violations.map((v) => v.rule)).toEqual(["observe-program-type"]);
  });

  it("answers `unknown` for a program the object lacks", async () => {
    const bytes = await compileObject(program(`SEC("xdp")\nint x(struct xdp_md *ctx) { return XDP_PASS; }\n`));
    expect(await plannedPrograms(registry, { type: "xdp", target: "xdp/lo", program: "nope" }, bytes)).toEqual([{ name: "nope", type: "unknown" }]);
  });
});
