/**
 * BTF-typed tracing programs (tp_btf, fentry) and pin paths, on the real kernel: the attach target
 * set by the loader wins over the section name, `attachTrace` works from a program fd (and so
 * from a pin), `probeTracing` answers per attach type exactly as a real load does, and a map
 * declared with LIBBPF_PIN_BY_NAME can be kept from being pinned at /sys/fs/bpf/<name>.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compileFixture, makePinDir, makeTempDir, requireKernel, spawnTrue, u32Key, u64 } from "./kernel-test-support.js";
import { BpfLoadError, BpfObject, BpfProgram, kernelBtfTypeNames, probeTracing } from "./index.js";

requireKernel();

const tmp = makeTempDir();
const object = compileFixture("tracing", tmp.dir);
afterAll(() => tmp.remove());

function openTpBtf(target: string): BpfObject {
  const obj = BpfObject.open({ path: object });
  obj.setAutoload("count_fentry", false);
  obj.setMapPinPath("tracing_counts", null);
  obj.setProgramType("count_tp_btf", "tracing");
  obj.setExpectedAttachType("count_tp_btf", "trace_raw_tp");
  obj.setAttachTarget("count_tp_btf", target);
  return obj;
}

describe("tracing programs", () => {
  it("loads a tp_btf program for the tracepoint the loader names, not the section's, and counts through attachTrace", () => {
    using obj = openTpBtf("sys_enter");
    obj.load();
    using counts = obj.map("tracing_counts");
    using program = obj.program("count_tp_btf");
    using link = program.attachTrace();
    expect(link.info().programId).toBe(program.info().id);
    const shown = (JSON.parse(execFileSync("bpftool", ["link", "show", "id", String(link.info().id), "-j"], { encoding: "utf8" })) as { tp_name?: string })
      .tp_name;
    expect(shown).toBe("sys_enter");
    const before = u64(counts.lookup(u32Key(0)));
    spawnTrue(10);
    // sys_enter fires for every syscall: at least one per exec.
    expect(u64(counts.lookup(u32Key(0))) - before).toBeGreaterThanOrEqual(10n);
  });

  it("attaches a tracing program reopened from its pin", () => {
    const pins = makePinDir();
    try {
      {
        using obj = openTpBtf("sys_enter");
        obj.load();
        obj.program("count_tp_btf").pin(join(pins.dir, "program"));
        obj.map("tracing_counts").pin(join(pins.dir, "counts"));
      }
      using program = BpfProgram.openPinned(join(pins.dir, "program"));
      using link = program.attachTrace();
      expect(link.info().programId).toBe(program.info().id);
    } finally {
      pins.remove();
    }
  });

  it("refuses an attach target the kernel has no BTF for", () => {
    const obj = BpfObject.open({ path: object });
    obj.setProgramType("count_tp_btf", "tracing");
    obj.setExpectedAttachType("count_tp_btf", "trace_raw_tp");
    expect(() => obj.setAttachTarget("count_tp_btf", "no_such_tracepoint_eop")).toThrow(/bpf_program__set_attach_target\(no_such_tracepoint_eop\)/);
    obj.close();
  });

  it("probes tracing support per attach type exactly as a real load answers", () => {
    expect(probeTracing("trace_raw_tp", "btf_trace_sys_enter", "typedef")).toMatchObject({ supported: true });
    expect(probeTracing("trace_raw_tp", "btf_trace_no_such_eop", "typedef")).toMatchObject({ supported: false, errno: "ENOENT" });
    // fentry: what the probe says must be what loading the fixture's fentry program does.
    const probe = probeTracing("trace_fentry", "do_unlinkat", "func");
    const obj = BpfObject.open({ path: object });
    obj.setAutoload("count_tp_btf", false);
    obj.setMapPinPath("tracing_counts", null);
    let loaded: boolean;
    try {
      obj.load();
      loaded = true;
    } catch (error) {
      expect(error).toBeInstanceOf(BpfLoadError);
      expect((error as BpfLoadError).code).toBe(probe.errno);
      loaded = false;
    } finally {
      obj.close();
    }
    expect(probe.supported).toBe(loaded);
  });

  it("lists the kernel's BTF functions and tracepoint typedefs", () => {
    const tracepoints = kernelBtfTypeNames({ kind: "typedef", prefix: "btf_trace_" });
    expect(tracepoints).toContain("btf_trace_sys_enter");
    expect(tracepoints.every((n) => n.startsWith("btf_trace_"))).toBe(true);
    expect(kernelBtfTypeNames({ kind: "func", prefix: "do_unlink" })).toContain("do_unlinkat");
    expect(() => kernelBtfTypeNames({ kind: "func", dir: join(tmp.dir, "no-btf") })).toThrow(/btf__parse/);
  });
});

describe("pin paths", () => {
  const declared = "/sys/fs/bpf/tracing_counts";

  it("reports the path libbpf would pin a LIBBPF_PIN_BY_NAME map at, and pins nothing once it is cleared", () => {
    // Another test run could be holding the same name: this one only reads and clears.
    const obj = openTpBtf("sys_enter");
    try {
      expect(obj.maps().find((m) => m.name === "tracing_counts")?.pinPath).toBeNull();
    } finally {
      obj.close();
    }
    using fresh = BpfObject.open({ path: object });
    expect(fresh.maps().find((m) => m.name === "tracing_counts")?.pinPath).toBe(declared);
  });

  it("pins at a path of the caller's choosing instead", () => {
    const pins = makePinDir();
    try {
      using obj = openTpBtf("sys_enter");
      obj.setMapPinPath("tracing_counts", join(pins.dir, "counts"));
      const hadRootPin = existsSync(declared);
      obj.load();
      expect(existsSync(join(pins.dir, "counts"))).toBe(true);
      expect(existsSync(declared)).toBe(hadRootPin);
    } finally {
      pins.remove();
    }
  });
});

describe("map types from the object's own BTF", () => {
  it("describes key and value before load, as the kernel's BTF does after", () => {
    using obj = BpfObject.open({ path: object });
    const before = obj.mapTypes("tracing_counts");
    expect(before.key).toMatchObject({ kind: "int", size: 4, signed: false });
    expect(before.value).toMatchObject({ kind: "int", size: 8, signed: false });
    expect(obj.maps().find((m) => m.name === "tracing_counts")?.flags).toBe(0);
    expect(() => obj.mapTypes("nope")).toThrow(/has no map "nope"; it has: tracing_counts/);
    using loaded = openTpBtf("sys_enter");
    loaded.load();
    using map = loaded.map("tracing_counts");
    expect(map.describeKey()).toEqual(before.key);
    expect(map.describeValue()).toEqual(before.value);
  });
});
