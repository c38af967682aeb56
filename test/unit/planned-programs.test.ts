// The operator-side check, end to end without a kernel: compile (real clang), inspect, ask the
// plugin which kernel types the programs get, check against tenant rules.
import { describe, expect, it } from "vitest";
import {
  DEFAULT_TENANT_RULES,
  PluginRegistry,
  checkCompiledObject,
  checkObjectAgainst,
  enforcementForPolicy,
  inspectObject,
  plannedPrograms,
} from "@ebpf-operator/core";
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

  it("checkCompiledObject: the operator's check of a compiled object against a policy's grant, as the agent makes it", async () => {
    const code = program(`SEC("cgroup_skb/egress")\nint hook(struct __sk_buff *skb) { bpf_send_signal(9); return 1; }\n`);
    const bytes = await compileObject(code);
    const spec = { type: "cgroup", target: "cgroup/skb/egress:/x", program: "hook", code };
    const observeHelpers = enforcementForPolicy({ helpers: { sets: ["observe"] }, verdictMode: "enforce" });
    const violations = await checkCompiledObject(registry, spec, bytes, observeHelpers);
    expect(violations.map((v) => v.rule)).toEqual(["helper"]);
    expect(violations[0]!.message).toMatch(/program "hook" calls bpf_send_signal \(helper #109\) at program\.bpf\.c:\d+/);
    expect(await checkCompiledObject(registry, spec, bytes, enforcementForPolicy({ helpers: { sets: ["any"] }, verdictMode: "enforce" }))).toEqual([]);
    // The baseline holds without a policy: a pinned map is refused.
    const pinned = program(
      `struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); __uint(pinning, LIBBPF_PIN_BY_NAME); } shared SEC(".maps");\n` +
        `SEC("cgroup_skb/egress")\nint hook(struct __sk_buff *skb) { __u32 k = 0; return bpf_map_lookup_elem(&shared, &k) != 0; }\n`,
    );
    const refused = await checkCompiledObject(registry, { ...spec, code: pinned }, await compileObject(pinned), undefined);
    expect(refused.map((v) => v.rule)).toEqual(["map-pinning"]);
  });

  it("checkCompiledObject refuses bytes that are no BPF object with EOP_ERR_OBJECT_INVALID", async () => {
    await expect(checkCompiledObject(registry, { type: "xdp", target: "xdp/lo", program: "x", code: "" }, new Uint8Array(64), undefined)).rejects.toMatchObject(
      {
        code: "EOP_ERR_OBJECT_INVALID",
      },
    );
  });
});
