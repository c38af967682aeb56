// Objects compiled by the real clang with the agent's compiler, checked against tenant rules.
import { describe, expect, it } from "vitest";
import { BPF_HELPERS } from "./bpf-uapi.js";
import { DANGEROUS_HELPER_REASONS, OBSERVE_FORBIDDEN_HELPERS, OBSERVE_HELPERS, TRACING_READ_HELPERS } from "./helper-sets.js";
import { inspectObject } from "./inspect-object.js";
import { DEFAULT_TENANT_RULES, checkObjectAgainst, type ObjectRules, type Violation } from "./rules.js";
import { compileObject, program } from "./test-objects.js";

async function check(
  source: string,
  attached: { name: string; type: string; attachType?: string }[],
  rules: ObjectRules = DEFAULT_TENANT_RULES,
  possibleCpus = 4,
): Promise<Violation[]> {
  return checkObjectAgainst(inspectObject(await compileObject(source), { source }), rules, { attached, possibleCpus });
}

const rulesOf = (v: Violation[]): string[] => v.map((x) => x.rule);
const lineOf = (source: string, needle: string): number => source.split("\n").findIndex((l) => l.includes(needle)) + 1;

const COUNTER_MAP = `
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, u32);
  __type(value, u64);
} counts SEC(".maps");
`;

describe("helper sets", () => {
  it("name only helpers the UAPI header has", () => {
    const known = new Set(BPF_HELPERS.map((h) => h?.name));
    for (const name of [...OBSERVE_HELPERS, ...TRACING_READ_HELPERS, ...OBSERVE_FORBIDDEN_HELPERS.keys(), ...DANGEROUS_HELPER_REASONS.keys()])
      expect(known, name).toContain(name);
  });

  it("keep the observe set and the dangerous helpers apart", () => {
    for (const name of DANGEROUS_HELPER_REASONS.keys()) expect(OBSERVE_HELPERS.has(name), name).toBe(false);
  });
});

describe("checkObjectAgainst", () => {
  const READ_KERNEL = program(`${COUNTER_MAP}
SEC("cgroup_skb/egress")
int leak(struct __sk_buff *skb) {
  u64 secret = 0;
  bpf_probe_read_kernel(&secret, sizeof(secret), (void *)0xffffffff81000000ULL);
  u32 k = 0;
  bpf_map_update_elem(&counts, &k, &secret, BPF_ANY);
  return 1;
}
`);

  it("refuses bpf_probe_read_kernel in a cgroup program, naming the helper and the line", async () => {
    const v = await check(READ_KERNEL, [{ name: "leak", type: "cgroup_skb" }], { ...DEFAULT_TENANT_RULES, verdictMode: "enforce" });
    expect(rulesOf(v)).toEqual(["helper"]);
    expect(v[0]).toMatchObject({ program: "leak", helper: "bpf_probe_read_kernel", source: { line: lineOf(READ_KERNEL, "bpf_probe_read_kernel(") } });
    expect(v[0]!.message).toMatch(
      /program "leak" calls bpf_probe_read_kernel \(helper #113\) at program\.bpf\.c:\d+ \(`bpf_probe_read_kernel\(&secret.*`\), which reads kernel memory/,
    );
  });

  it("allows the same helper in a tracing program type under the observe set, and by name elsewhere", async () => {
    const tracepoint = READ_KERNEL.replace('SEC("cgroup_skb/egress")', 'SEC("tracepoint/syscalls/sys_enter_getpid")').replace(
      "struct __sk_buff *skb",
      "void *ctx",
    );
    expect(await check(tracepoint, [{ name: "leak", type: "tracepoint" }])).toEqual([]);
    const granted: ObjectRules = { ...DEFAULT_TENANT_RULES, verdictMode: "enforce", helpers: { sets: ["observe"], names: ["bpf_probe_read_kernel"] } };
    expect(await check(READ_KERNEL, [{ name: "leak", type: "cgroup_skb" }], granted)).toEqual([]);
  });

  it("refuses dangerous helpers in subprograms too", async () => {
    const source = program(`
static __attribute__((noinline)) int poke(void) {
  char buf[4] = {};
  return bpf_probe_write_user((void *)0x1000, buf, sizeof(buf));
}
SEC("tracepoint/syscalls/sys_enter_getpid")
int tp(void *ctx) { return poke(); }
`);
    const v = await check(source, [{ name: "tp", type: "tracepoint" }], { ...DEFAULT_TENANT_RULES, verdictMode: "enforce" });
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ rule: "helper", helper: "bpf_probe_write_user", source: { line: lineOf(source, "bpf_probe_write_user(") } });
  });

  it("reports a helper once, at its first call, with the number of other calls", async () => {
    const source = program(`
SEC("tracepoint/syscalls/sys_enter_getpid")
int tp(void *ctx) {
  bpf_printk("a");
  bpf_printk("b");
  bpf_printk("c");
  return 0;
}
`);
    const v = await check(source, [{ name: "tp", type: "tracepoint" }]);
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ rule: "helper", helper: "bpf_trace_printk", source: { line: lineOf(source, 'bpf_printk("a")') } });
    expect(v[0]!.message).toMatch(
      /calls bpf_trace_printk \(helper #6\) at program\.bpf\.c:\d+ \(`bpf_printk\("a"\);`\) \(and 2 more calls\), which writes to the node's shared trace buffer/,
    );
  });

  it("refuses tail calls, redirects and packet changes in observe mode even when granted", async () => {
    const source = program(`
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 1);
  __uint(key_size, 4);
  __uint(value_size, 4);
} jumps SEC(".maps");
SEC("xdp")
int x(struct xdp_md *ctx) {
  bpf_tail_call(ctx, &jumps, 0);
  bpf_xdp_adjust_head(ctx, 4);
  return bpf_redirect(1, 0);
}
`);
    const everything: ObjectRules = { ...DEFAULT_TENANT_RULES, helpers: { sets: ["any"] }, maps: {} };
    const v = await check(source, [{ name: "x", type: "xdp" }], everything);
    expect(v.map((x) => [x.rule, x.helper])).toEqual([
      ["observe-helper", "bpf_tail_call"],
      ["observe-helper", "bpf_xdp_adjust_head"],
      ["observe-helper", "bpf_redirect"],
    ]);
    expect(v[0]!.message).toMatch(/jumps to another program whose verdict would be final: not allowed in observe mode/);
    // Enforce mode with every helper granted: the same object passes.
    expect(await check(source, [{ name: "x", type: "xdp" }], { ...everything, verdictMode: "enforce" })).toEqual([]);
    // The default map rules refuse the program array itself.
    const defaults = await check(source, [{ name: "x", type: "xdp" }], { ...DEFAULT_TENANT_RULES, verdictMode: "enforce" });
    expect(defaults.find((x) => x.rule === "map-type")?.message).toMatch(/map "jumps" at program\.bpf\.c:\d+ .* is a prog_array map/);
  });

  it("refuses address-rewriting cgroup hooks and fmod_ret in observe mode", async () => {
    const source = program(`
SEC("cgroup/connect4")
int c(struct bpf_sock_addr *ctx) { return 1; }
`);
    const v = await check(source, [{ name: "c", type: "cgroup_sock_addr" }]);
    expect(rulesOf(v)).toEqual(["observe-program-type"]);
    expect(v[0]!.message).toMatch(/cgroup_sock_addr program, which has enforce mode only \(connect, bind, sendmsg/);
    expect(await check(source, [{ name: "c", type: "cgroup_sock_addr" }], { ...DEFAULT_TENANT_RULES, verdictMode: "enforce" })).toEqual([]);
    const fmod = await check(program(`SEC("tracepoint/x/y")\nint t(void *ctx) { return 0; }\n`), [{ name: "t", type: "tracing", attachType: "modify_return" }]);
    expect(rulesOf(fmod)).toEqual(["observe-program-type"]);
  });

  it("refuses kfuncs and kernel symbols unless granted by name", async () => {
    const source = program(`
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern const int bpf_prog_active __ksym;
SEC("tracepoint/syscalls/sys_enter_getpid")
int tp(void *ctx) {
  bpf_rcu_read_lock();
  bpf_rcu_read_unlock();
  return (long)&bpf_prog_active;
}
`);
    const v = await check(source, [{ name: "tp", type: "tracepoint" }]);
    expect(v.map((x) => [x.rule, x.kfunc])).toEqual([
      ["kfunc", "bpf_rcu_read_lock"],
      ["kfunc", "bpf_rcu_read_unlock"],
      ["ksym", undefined],
    ]);
    expect(v[2]!.message).toMatch(/reads kernel symbol bpf_prog_active \(__ksym\)/);
    const granted = { ...DEFAULT_TENANT_RULES, kfuncs: ["bpf_rcu_read_lock", "bpf_rcu_read_unlock"], ksyms: ["bpf_prog_active"] };
    expect(await check(source, [{ name: "tp", type: "tracepoint" }], granted)).toEqual([]);
  });

  it("checks map types, entries, memory (per-CPU times the node's CPUs) and pinning", async () => {
    const source = program(`
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 100000);
  __type(key, u32);
  __type(value, u64);
} big SEC(".maps");
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8);
  __type(key, u32);
  __type(value, u64);
  __uint(pinning, 2); /* a value other than LIBBPF_PIN_BY_NAME: never contained */
} pinned SEC(".maps");
struct {
  __uint(type, BPF_MAP_TYPE_DEVMAP);
  __uint(max_entries, 4);
  __type(key, u32);
  __type(value, u32);
} ports SEC(".maps");
SEC("xdp")
int x(struct xdp_md *ctx) {
  u32 k = 0;
  bpf_map_lookup_elem(&big, &k);
  bpf_map_lookup_elem(&pinned, &k);
  bpf_map_lookup_elem(&ports, &k);
  return XDP_PASS;
}
`);
    const rules: ObjectRules = {
      ...DEFAULT_TENANT_RULES,
      maps: { ...DEFAULT_TENANT_RULES.maps, maxEntries: 10_000, maxBytesPerMap: 1 << 20, maxBytesTotal: 2 << 20 },
    };
    const v = await check(source, [{ name: "x", type: "xdp" }], rules, 8);
    expect(v.map((x) => [x.rule, x.map])).toEqual([
      ["map-entries", "big"],
      ["map-memory", "big"],
      ["map-pinning", "pinned"],
      ["map-type", "ports"],
      ["maps-memory", undefined],
    ]);
    expect(v[1]!.message).toMatch(/map "big" can hold 6\.1 MiB \(100000 entries × key 4 \+ value 8 × 8 CPUs\); the rules allow 1\.0 MiB per map/);
    expect(v[2]!.message).toMatch(/map "pinned" is declared with pinning 2: only LIBBPF_PIN_BY_NAME/);
    // On a one-CPU node the per-CPU map holds 781 KiB: under the per-map limit.
    const oneCpu = await check(source, [{ name: "x", type: "xdp" }], rules, 1);
    expect(rulesOf(oneCpu)).not.toContain("map-memory");
  });

  it("allows LIBBPF_PIN_BY_NAME maps (the loader contains them in the resource's directory) under the tenant default", async () => {
    const source = program(`
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8);
  __type(key, u32);
  __type(value, u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} shared SEC(".maps");
SEC("xdp")
int x(struct xdp_md *ctx) {
  u32 k = 0;
  bpf_map_lookup_elem(&shared, &k);
  return XDP_PASS;
}
`);
    expect(await check(source, [{ name: "x", type: "xdp" }])).toEqual([]);
  });

  it("names a missing attached program, program types not allowed, the instruction limit and extra programs", async () => {
    const source = program(`
SEC("xdp") int a(struct xdp_md *ctx) { return XDP_PASS; }
SEC("xdp") int b(struct xdp_md *ctx) { return XDP_PASS; }
`);
    const rules: ObjectRules = { ...DEFAULT_TENANT_RULES, programTypes: ["cgroup_skb"], maxInstructions: 1, extraPrograms: "refuse" };
    const v = await check(
      source,
      [
        { name: "a", type: "xdp" },
        { name: "nope", type: "xdp" },
      ],
      rules,
    );
    expect(rulesOf(v).sort()).toEqual(["extra-program", "instructions", "program-missing", "program-type"]);
    expect(v.find((x) => x.rule === "program-missing")?.message).toBe('the object has no program "nope" (programs: a, b)');
    expect(v.find((x) => x.rule === "extra-program")?.program).toBe("b");
  });

  it("passes a read-only counting program under the default rules", async () => {
    const source = program(`${COUNTER_MAP}
SEC("xdp")
int count(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  u32 k = data + 14 <= end ? *(unsigned char *)(data + 12) : 0;
  u64 *v = bpf_map_lookup_elem(&counts, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return XDP_DROP;
}
`);
    expect(await check(source, [{ name: "count", type: "xdp" }])).toEqual([]);
  });
});
