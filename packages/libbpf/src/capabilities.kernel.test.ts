// Loading without CAP_PERFMON/CAP_SYS_ADMIN in the effective set, on the real kernel: the
// verifier itself refuses what only those capabilities allow, and the thread gets them back.
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { warmUpObject } from "./feature-probes.js";
import { BpfLoadError, BpfObject, type Capability } from "./index.js";
import { compileFixture, makeTempDir, requireKernel } from "./kernel-test-support.js";

requireKernel();

const TENANT: Capability[] = ["CAP_SYS_ADMIN", "CAP_PERFMON"];

/** This thread's effective capability mask, from the kernel. */
function effective(): bigint {
  const line = readFileSync("/proc/thread-self/status", "utf8")
    .split("\n")
    .find((l) => l.startsWith("CapEff:"));
  return BigInt(`0x${line!.split(/\s+/)[1]}`);
}

describe("BpfObject.load({ dropCapabilities })", () => {
  const tmp = makeTempDir();
  const path = compileFixture("capabilities", tmp.dir);
  afterAll(() => tmp.remove());

  /** Loads only `program` from the fixture; returns the error, or undefined when it loaded. */
  function load(program: string, dropCapabilities?: Capability[]): BpfLoadError | undefined {
    using obj = BpfObject.open({ path });
    for (const p of obj.programs()) obj.setAutoload(p.name, p.name === program);
    try {
      obj.load(dropCapabilities ? { dropCapabilities } : {});
      return undefined;
    } catch (error) {
      if (error instanceof BpfLoadError) return error;
      throw error;
    }
  }

  it("has the verifier refuse bpf_probe_read_kernel in a cgroup program loaded as a tenant, and accept it with full capabilities", () => {
    // Tenant first: libbpf's process-wide feature probe must not be poisoned for the later load.
    const refused = load("read_kernel", TENANT);
    expect(refused).toBeInstanceOf(BpfLoadError);
    expect(refused!.program).toBe("read_kernel");
    expect(refused!.verifierLog).toMatch(/program of this type cannot use helper bpf_probe_read_kernel#113/);
    expect(refused!.message).toMatch(/program 'read_kernel' rejected by the verifier: program of this type cannot use helper bpf_probe_read_kernel#113/);
    expect(load("read_kernel")).toBeUndefined();
  });

  it("has the verifier refuse a pointer leak into a map as a tenant, not as root", () => {
    const refused = load("leak_pointer", TENANT);
    expect(refused?.verifierLog).toMatch(/leaks addr into map/);
    expect(load("leak_pointer")).toBeUndefined();
  });

  it("keeps tracing programs loadable with full capabilities after tenant loads", () => {
    expect(load("read_kernel", TENANT)).toBeInstanceOf(BpfLoadError);
    expect(load("trace_read_kernel")).toBeUndefined();
  });

  it("gives the thread its capabilities back, whether the load failed or not", () => {
    const before = effective();
    expect(before & (1n << 38n)).not.toBe(0n); // CAP_PERFMON: the tests run as root
    load("read_kernel", TENANT);
    expect(effective()).toBe(before);
    load("leak_pointer", ["CAP_PERFMON"]);
    expect(effective()).toBe(before);
  });

  it("refuses capability names it does not know", () => {
    using obj = BpfObject.open({ path });
    expect(() => obj.load({ dropCapabilities: ["CAP_EVERYTHING" as Capability] })).toThrow(/unknown capability "CAP_EVERYTHING"/);
  });

  it("writes a warm-up object libbpf loads (it settles the feature probe with full capabilities)", () => {
    using obj = BpfObject.open({ buffer: warmUpObject(), name: "warmup" });
    expect(obj.programs()).toMatchObject([{ name: "eop_probe_warmup", type: "tracepoint" }]);
    obj.load();
  });
});
