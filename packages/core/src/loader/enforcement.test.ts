// What the loader enforces for a policy's grant, checked on objects compiled by the real clang.
import { describe, expect, it } from "vitest";
import { inspectObject, type ObjectReport } from "../inspect/inspect-object.js";
import { compileObject, program } from "../inspect/test-objects.js";
import { ObjectRefusedError, capabilitiesToDrop, checkObject, enforcementForPolicy, objectMapBytes, type EnforcementGrant } from "./enforcement.js";

const OBSERVE_GRANT: EnforcementGrant = { helpers: { sets: ["observe"] }, verdictMode: "observe" };

const PERCPU_COUNTER = program(`
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, __u64);
} counts SEC(".maps");

SEC("cgroup_skb/egress")
int count(struct __sk_buff *skb) {
  __u32 k = 0;
  __u64 *v = bpf_map_lookup_elem(&counts, &k);
  if (v) *v += 1;
  return 1;
}
`);

const TAIL_CALLER = program(`
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u32);
} jumps SEC(".maps");

SEC("xdp")
int entry(struct xdp_md *ctx) {
  bpf_tail_call(ctx, &jumps, 0);
  return XDP_PASS;
}
`);

async function report(source: string): Promise<ObjectReport> {
  return inspectObject(await compileObject(source), { source });
}

function refusal(call: () => void): ObjectRefusedError {
  try {
    call();
  } catch (error) {
    if (error instanceof ObjectRefusedError) return error;
    throw error;
  }
  throw new Error("the object was not refused");
}

describe("enforcementForPolicy", () => {
  it("turns the default grant into observe mode, the observe helpers and map types, tenant loading and the quotas", () => {
    const e = enforcementForPolicy({
      ...OBSERVE_GRANT,
      quotas: { instructions: 1000, mapEntries: 64, mapBytesPerEbpfMap: 4096, mapBytesPerNamespacePerNode: 8192 },
    });
    expect(e.verdictMode).toBe("observe");
    expect(e.tracingPrivileges).toBe(false);
    expect(e.namespaceMapBytes).toBe(8192);
    expect(e.rules).toMatchObject({
      verdictMode: "observe",
      helpers: { sets: ["observe"], names: [] },
      kfuncs: [],
      ksyms: [],
      maxInstructions: 1000,
      maps: { maxEntries: 64, maxBytesTotal: 4096 },
    });
    expect(e.rules?.maps?.types).toContain("hash");
    expect(e.rules?.maps?.types).not.toContain("prog_array");
    expect(capabilitiesToDrop(["cgroup_skb"], e)).toEqual(["CAP_SYS_ADMIN", "CAP_PERFMON"]);
    expect(capabilitiesToDrop(["tracepoint"], e)).toEqual([]);
  });

  it("grants tracing privileges to non-tracing types only with the any set or a tracing read granted by name", () => {
    expect(enforcementForPolicy({ helpers: { sets: ["any"] }, verdictMode: "enforce" }).tracingPrivileges).toBe(true);
    expect(enforcementForPolicy({ helpers: { sets: ["observe"], names: ["bpf_probe_read_kernel"] }, verdictMode: "enforce" }).tracingPrivileges).toBe(true);
    expect(enforcementForPolicy({ helpers: { sets: ["observe"], names: ["bpf_send_signal"] }, verdictMode: "enforce" }).tracingPrivileges).toBe(false);
    const any = enforcementForPolicy({ helpers: { sets: ["any"] }, verdictMode: "enforce" });
    expect(any.rules).toMatchObject({ kfuncs: "any", ksyms: "any" });
    expect(any.rules?.maps?.types).toBeUndefined();
  });

  it("refuses a tail call and its program array without the grant, and allows both with bpf_tail_call granted by name in enforce mode", async () => {
    const r = await report(TAIL_CALLER);
    const target = { attached: [{ name: "entry", type: "xdp" }], possibleCpus: 2 };
    const refused = refusal(() => checkObject(r, enforcementForPolicy({ helpers: { sets: ["observe"] }, verdictMode: "enforce" }), target, "t"));
    expect(refused.violations.map((v) => v.rule).sort()).toEqual(["helper", "map-type"]);
    expect(refused.message).toMatch(/bpf_tail_call/);
    expect(() =>
      checkObject(r, enforcementForPolicy({ helpers: { sets: ["observe"], names: ["bpf_tail_call"] }, verdictMode: "enforce" }), target, "t"),
    ).not.toThrow();
    // Observe mode refuses it whatever is granted: the called program's verdict would be final.
    const observe = refusal(() =>
      checkObject(r, enforcementForPolicy({ helpers: { sets: ["observe"], names: ["bpf_tail_call"] }, verdictMode: "observe" }), target, "t"),
    );
    expect(observe.violations.map((v) => v.rule)).toContain("observe-helper");
  });
});

describe("checkObject: the namespace's map memory on this node", () => {
  it("counts per-CPU values times the node's CPUs (an array stores no keys)", async () => {
    const r = await report(PERCPU_COUNTER);
    expect(objectMapBytes(r, 1)).toBe(1024 * 8);
    expect(objectMapBytes(r, 8)).toBe(1024 * 8 * 8);
  });

  it("refuses an object that does not fit in what the namespace's other EbpfMaps leave, naming both amounts and the budget", async () => {
    const r = await report(PERCPU_COUNTER);
    const target = { attached: [{ name: "count", type: "cgroup_skb" }], possibleCpus: 4 };
    const own = objectMapBytes(r, 4); // 32 KiB
    const enforcement = enforcementForPolicy({ ...OBSERVE_GRANT, quotas: { mapBytesPerNamespacePerNode: 64 * 1024 } });
    expect(() => checkObject(r, enforcement, target, "t", 0)).not.toThrow();
    expect(() => checkObject(r, enforcement, target, "t", 64 * 1024 - own)).not.toThrow();
    const refused = refusal(() => checkObject(r, enforcement, target, "t", 64 * 1024 - own + 1));
    expect(refused.violations).toHaveLength(1);
    expect(refused.violations[0]).toMatchObject({ rule: "namespace-maps-memory" });
    expect(refused.message).toMatch(
      /maps can hold 32\.0 KiB and the namespace's other EbpfMaps on this node hold 32\.0 KiB; the namespace may hold 64\.0 KiB per node/,
    );
  });

  it("applies no namespace budget when the enforcement sets none", async () => {
    const r = await report(PERCPU_COUNTER);
    expect(() => checkObject(r, undefined, { attached: [{ name: "count", type: "cgroup_skb" }], possibleCpus: 4 }, "t", 1 << 40)).not.toThrow();
  });
});

describe("several programs per resource", () => {
  const PAIR = program(`
SEC("cgroup_skb/egress")
int egress(struct __sk_buff *skb) { return 1; }

SEC("cgroup_skb/ingress")
int ingress(struct __sk_buff *skb) {
  bpf_send_signal(9);
  return 1;
}

SEC("tp_btf/sched_switch")
int on_switch(void *ctx) { return 0; }
`);

  it("checks every program against the grant: a helper refused in the second program is named there", async () => {
    const r = await report(PAIR);
    const attached = [
      { name: "egress", type: "cgroup_skb" },
      { name: "ingress", type: "cgroup_skb" },
    ];
    const refused = refusal(() =>
      checkObject(r, enforcementForPolicy({ helpers: { sets: ["observe"] }, verdictMode: "enforce" }), { attached, possibleCpus: 1 }, "t"),
    );
    expect(refused.violations.map((v) => [v.rule, v.program, v.helper])).toEqual([["helper", "ingress", "bpf_send_signal"]]);
  });

  it("keeps CAP_PERFMON for the BTF-typed and raw tracepoint types, drops it when every program is a non-tracing type", () => {
    expect(capabilitiesToDrop(["tracing"], undefined)).toEqual([]);
    expect(capabilitiesToDrop(["raw_tracepoint"], undefined)).toEqual([]);
    expect(capabilitiesToDrop(["cgroup_skb", "cgroup_skb"], undefined)).toEqual(["CAP_SYS_ADMIN", "CAP_PERFMON"]);
  });

  it("refuses mixing a tracing program with a non-tracing one (one load, one set of capabilities) unless tracing privileges are granted", async () => {
    const r = await report(PAIR);
    const attached = [
      { name: "egress", type: "cgroup_skb" },
      { name: "on_switch", type: "tracing", attachType: "trace_raw_tp" },
    ];
    const refused = refusal(() => checkObject(r, undefined, { attached, possibleCpus: 1 }, "t"));
    expect(refused.violations).toMatchObject([{ rule: "program-type", program: "egress" }]);
    expect(refused.message).toMatch(/program "egress" \(cgroup_skb\) would be verified together with the tracing program "on_switch" \(tracing\)/);
    const granted = enforcementForPolicy({ helpers: { sets: ["any"] }, verdictMode: "enforce" });
    expect(() => checkObject(r, granted, { attached, possibleCpus: 1 }, "t")).not.toThrow();
  });
});
