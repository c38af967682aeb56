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

  it("types every program of spec.programs, each by its own plugin", async () => {
    const code = program(
      `SEC("cgroup_skb/egress")\nint out(void *ctx) { return 1; }\nSEC("cgroup_skb/ingress")\nint in(void *ctx) { return 1; }\nSEC("xdp")\nint x(struct xdp_md *ctx) { return XDP_PASS; }\n`,
    );
    const bytes = await compileObject(code);
    const programs = [
      { program: "out", type: "cgroup", target: "cgroup/connect4:/x" },
      { program: "x", type: "xdp", target: "xdp/lo" },
      { program: "gone", type: "xdp", target: "xdp/lo" },
    ];
    expect(await plannedPrograms(registry, { programs }, bytes)).toEqual([
      { name: "out", type: "cgroup_sock_addr", attachType: "cgroup_inet4_connect" },
      { name: "x", type: "xdp", attachType: expect.any(String) },
      { name: "gone", type: "unknown" },
    ]);
    // The operator refuses the address-rewriting hook of the first entry under the tenant default.
    const violations = await checkCompiledObject(registry, { programs, code }, bytes, { rules: DEFAULT_TENANT_RULES });
    expect(violations.filter((v) => v.program === "out").map((v) => v.rule)).toContain("observe-program-type");
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
    // LIBBPF_PIN_BY_NAME is allowed (the agent's loader contains it in the resource's own
    // directory); the baseline refuses, without a policy, any other pinning value.
    const pinnedWith = (value: string): string =>
      program(
        `struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); __uint(pinning, ${value}); } shared SEC(".maps");\n` +
          `SEC("cgroup_skb/egress")\nint hook(struct __sk_buff *skb) { __u32 k = 0; return bpf_map_lookup_elem(&shared, &k) != 0; }\n`,
      );
    const byName = pinnedWith("LIBBPF_PIN_BY_NAME");
    expect(await checkCompiledObject(registry, { ...spec, code: byName }, await compileObject(byName), undefined)).toEqual([]);
    const other = pinnedWith("2");
    const refused = await checkCompiledObject(registry, { ...spec, code: other }, await compileObject(other), undefined);
    expect(refused.map((v) => v.rule)).toEqual(["map-pinning"]);
    expect(refused[0]!.message).toMatch(/map "shared" is declared with pinning 2/);
  });

  it("checkCompiledObject under a policy's grant: every program of spec.programs is checked, and LIBBPF_PIN_BY_NAME stays allowed", async () => {
    // The second program calls a helper the grant leaves out; the first is clean. Both use a
    // map pinned by name, which the loader contains: not a violation under the policy either.
    const code = program(
      `struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); __uint(pinning, LIBBPF_PIN_BY_NAME); } shared SEC(".maps");\n` +
        `SEC("cgroup_skb/egress")\nint first(struct __sk_buff *skb) { __u32 k = 0; return bpf_map_lookup_elem(&shared, &k) != 0; }\n` +
        `SEC("cgroup_skb/ingress")\nint second(struct __sk_buff *skb) { __u32 k = 0; bpf_send_signal(9); return bpf_map_lookup_elem(&shared, &k) != 0; }\n`,
    );
    const bytes = await compileObject(code);
    const programs = [
      { program: "first", type: "cgroup", target: "cgroup/skb/egress:/x" },
      { program: "second", type: "cgroup", target: "cgroup/skb/ingress:/x" },
    ];
    const observeHelpers = enforcementForPolicy({ helpers: { sets: ["observe"] }, verdictMode: "enforce" });
    const violations = await checkCompiledObject(registry, { programs, code }, bytes, observeHelpers);
    expect(violations.map((v) => [v.rule, v.program])).toEqual([["helper", "second"]]);
    expect(violations[0]!.message).toMatch(/program "second" calls bpf_send_signal/);
    // Granted by name: nothing left, the pinned map included.
    const granted = enforcementForPolicy({ helpers: { sets: ["observe"], names: ["bpf_send_signal"] }, verdictMode: "enforce" });
    expect(await checkCompiledObject(registry, { programs, code }, bytes, granted)).toEqual([]);
  });

  it("checkCompiledObject refuses bytes that are no BPF object with EOP_ERR_OBJECT_INVALID", async () => {
    await expect(checkCompiledObject(registry, { type: "xdp", target: "xdp/lo", program: "x", code: "" }, new Uint8Array(64), undefined)).rejects.toMatchObject(
      {
        code: "EOP_ERR_OBJECT_INVALID",
      },
    );
  });
});
