// Objects compiled by the real clang with the agent's compiler; no kernel needed.
import { beforeAll, describe, expect, it } from "vitest";
import { ObjectFormatError, inspectObject, mapBytes, type ObjectReport } from "./inspect-object.js";
import { compileObject, program } from "./test-objects.js";

const MULTI = program(`
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 1024);
  __type(key, u32);
  __type(value, u64);
} counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 4);
  __uint(key_size, 4);
  __uint(value_size, 4);
} jumps SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 16);
  __type(key, u32);
  __type(value, u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} shared SEC(".maps");

u64 global_counter = 0;

static __attribute__((noinline)) int cpu_plus(int x) {
  return bpf_get_smp_processor_id() + x;
}

__attribute__((noinline)) int ifindex_of(struct xdp_md *ctx) {
  return ctx->ingress_ifindex + cpu_plus(0);
}

static long each(u32 i, void *data) {
  bpf_ktime_get_ns();
  return 0;
}

SEC("xdp")
int entry(struct xdp_md *ctx) {
  u32 k = 0;
  u64 *v = bpf_map_lookup_elem(&counts, &k);
  if (v) *v += cpu_plus(1) + ifindex_of(ctx);
  global_counter++;
  bpf_loop(4, each, 0, 0);
  bpf_tail_call(ctx, &jumps, 0);
  return XDP_DROP;
}

SEC("xdp")
int unrelated(struct xdp_md *ctx) {
  u32 k = 1;
  bpf_map_lookup_elem(&shared, &k);
  return XDP_PASS;
}
`);

describe("inspectObject", () => {
  let report: ObjectReport;
  beforeAll(async () => {
    report = inspectObject(await compileObject(MULTI), { source: MULTI });
  });

  it("lists the entry programs and the subprograms apart", () => {
    expect(report.programs.map((p) => p.name).sort()).toEqual(["entry", "unrelated"]);
    const kinds = Object.fromEntries(report.functions.map((f) => [f.name, f.kind]));
    expect(kinds).toMatchObject({ entry: "program", unrelated: "program", cpu_plus: "subprogram", ifindex_of: "subprogram", each: "subprogram" });
    expect(report.license).toBe("GPL");
  });

  it("follows static, global and callback subprograms from a program, transitively", () => {
    const entry = report.programs.find((p) => p.name === "entry")!;
    expect(new Set(entry.functions)).toEqual(new Set(["entry", "cpu_plus", "ifindex_of", "each"]));
    expect(entry.calls.map((c) => c.name).sort()).toEqual(["cpu_plus", "cpu_plus", "ifindex_of"]);
    expect(entry.functionReferences.map((r) => r.name)).toEqual(["each"]);
    const unrelated = report.programs.find((p) => p.name === "unrelated")!;
    expect(unrelated.functions).toEqual(["unrelated"]);
  });

  it("reports every helper call by id and name with its source line, subprograms included", () => {
    const entry = report.programs.find((p) => p.name === "entry")!;
    const byName = new Map(entry.helperCalls.map((c) => [c.name, c]));
    expect([...byName.keys()].sort()).toEqual(["bpf_get_smp_processor_id", "bpf_ktime_get_ns", "bpf_loop", "bpf_map_lookup_elem", "bpf_tail_call"]);
    expect(byName.get("bpf_tail_call")).toMatchObject({ id: 12, function: "entry", source: { text: "bpf_tail_call(ctx, &jumps, 0);" } });
    expect(byName.get("bpf_get_smp_processor_id")).toMatchObject({ id: 8, function: "cpu_plus" });
    expect(byName.get("bpf_ktime_get_ns")?.function).toBe("each");
    // Line numbers are the tenant's: the source above starts with the includes.
    const line = MULTI.split("\n").findIndex((l) => l.includes("bpf_tail_call(ctx")) + 1;
    expect(byName.get("bpf_tail_call")?.source?.line).toBe(line);
    expect(entry.tailCalls.map((c) => c.name)).toEqual(["bpf_tail_call"]);
  });

  it("reports map references, global data included", () => {
    const entry = report.programs.find((p) => p.name === "entry")!;
    expect(new Set(entry.mapReferences.map((r) => r.name))).toEqual(new Set(["counts", ".bss", "jumps"]));
  });

  it("reports each map's type, sizes, entries, pinning and memory estimate", () => {
    const maps = new Map(report.maps.map((m) => [m.name, m]));
    expect(maps.get("counts")).toMatchObject({
      type: "percpu_hash",
      keySize: 4,
      valueSize: 8,
      maxEntries: 1024,
      pinning: "none",
      perCpu: true,
      internal: false,
    });
    expect(mapBytes(maps.get("counts")!, 4)).toBe(1024 * 8 + 1024 * 8 * 4);
    expect(mapBytes(maps.get("counts")!, 64)).toBe(1024 * 8 + 1024 * 8 * 64);
    expect(maps.get("jumps")).toMatchObject({ type: "prog_array", keySize: 4, valueSize: 4, maxEntries: 4 });
    expect(maps.get("shared")).toMatchObject({ type: "array", pinning: "by_name" });
    expect(maps.get("shared")?.firstUse?.text).toContain("bpf_map_lookup_elem(&shared");
    expect(maps.get(".bss")).toMatchObject({ type: "array", internal: true, maxEntries: 1, valueSize: 8 });
  });

  it("reports kfunc calls and __ksym reads by name", async () => {
    const bytes = await compileObject(
      program(
        `
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern const int bpf_prog_active __ksym;
extern int LINUX_KERNEL_VERSION __kconfig;

SEC("tracepoint/syscalls/sys_enter_getpid")
int tp(void *ctx) {
  bpf_rcu_read_lock();
  bpf_rcu_read_unlock();
  return (long)&bpf_prog_active + LINUX_KERNEL_VERSION;
}
`,
        "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n",
      ),
    );
    const tp = inspectObject(bytes).programs[0]!;
    expect(tp.kfuncCalls.map((c) => c.name)).toEqual(["bpf_rcu_read_lock", "bpf_rcu_read_unlock"]);
    expect(tp.ksymReferences.map((r) => r.name)).toEqual(["bpf_prog_active"]);
    expect(tp.kconfigReferences.map((r) => r.name)).toEqual(["LINUX_KERNEL_VERSION"]);
    expect(tp.helperCalls).toEqual([]);
  });
});

describe("inspectObject on malformed input", () => {
  let good: Uint8Array;
  beforeAll(async () => {
    good = await compileObject(MULTI);
  });

  it("refuses what is not a BPF ELF object, saying what is wrong", () => {
    expect(() => inspectObject(new TextEncoder().encode("#!/bin/sh\necho hi\n"))).toThrow(/not an ELF file/);
    const x86 = good.slice();
    x86[18] = 62; // EM_X86_64
    expect(() => inspectObject(x86)).toThrow(/machine 62 is not BPF/);
  });

  it("refuses section tables that point outside the file", () => {
    expect(() => inspectObject(good.subarray(0, 200))).toThrow(ObjectFormatError);
    const lying = good.slice();
    new DataView(lying.buffer).setBigUint64(40, BigInt(good.byteLength - 10), true); // e_shoff near the end
    expect(() => inspectObject(lying)).toThrow(/outside the .*-byte file/);
  });

  it("either inspects or throws ObjectFormatError for corrupted bytes, never anything else", () => {
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 300; round++) {
      const bytes = good.slice();
      for (let flips = 0; flips < 1 + Math.floor(random() * 8); flips++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      try {
        inspectObject(bytes);
      } catch (error) {
        expect(error, `round ${round}`).toBeInstanceOf(ObjectFormatError);
      }
    }
  });
});
