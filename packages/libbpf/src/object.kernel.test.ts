import { readFileSync } from "node:fs";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { compileFixture, makeTempDir, requireKernel } from "./kernel-test-support.js";
import { BpfLoadError, BpfObject, ClosedError, LibbpfError } from "./index.js";

requireKernel();

describe("BpfObject", () => {
  const tmp = makeTempDir();
  let mapsObj = "";
  let rejectedObj = "";
  let countersObj = "";

  beforeAll(() => {
    mapsObj = compileFixture("maps", tmp.dir);
    rejectedObj = compileFixture("rejected", tmp.dir);
    countersObj = compileFixture("counters", tmp.dir);
  });

  afterAll(() => tmp.remove());

  it("opens an object file and names it after the file", () => {
    using obj = BpfObject.open({ path: mapsObj });
    expect(obj.name).toBe("maps");
  });

  it("opens an object from a buffer under the given name", () => {
    using obj = BpfObject.open({ buffer: readFileSync(mapsObj), name: "from_buffer" });
    expect(obj.name).toBe("from_buffer");
    expect(obj.programs().map((p) => p.name)).toEqual(["touch_maps"]);
  });

  it("lists program specs with section, type, autoload and expected attach type", () => {
    using obj = BpfObject.open({ path: countersObj });
    const byName = new Map(obj.programs().map((p) => [p.name, p]));
    expect(byName.get("count_execve")).toEqual({
      name: "count_execve",
      sectionName: "tracepoint/syscalls/sys_enter_execve",
      type: "tracepoint",
      autoload: true,
      expectedAttachType: "cgroup_inet_ingress", // enum value 0: tracepoints have no attach type
    });
    expect(byName.get("count_xdp")?.type).toBe("xdp");
    expect(byName.get("count_egress")).toMatchObject({ type: "cgroup_skb", expectedAttachType: "cgroup_inet_egress" });
    expect(byName.get("count_socket")?.type).toBe("socket_filter");
    expect(byName.get("count_uprobe")?.type).toBe("kprobe");
    expect(byName.get("count_raw_tp")?.type).toBe("raw_tracepoint");
  });

  it("lists map specs with type and sizes", () => {
    using obj = BpfObject.open({ path: mapsObj });
    const byName = new Map(obj.maps().map((m) => [m.name, m]));
    expect(byName.get("hash_map")).toEqual({ name: "hash_map", type: "hash", keySize: 4, valueSize: 8, maxEntries: 8192, flags: 0, pinPath: null });
    expect(byName.get("percpu_array_map")).toMatchObject({ type: "percpu_array", valueSize: 8, maxEntries: 3000 });
    expect(byName.get("conn_map")).toMatchObject({ type: "hash", keySize: 24 });
  });

  it("reports a missing file as a LibbpfError with ENOENT", () => {
    const err = (() => {
      try {
        BpfObject.open({ path: `${tmp.dir}/does-not-exist.o` });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(LibbpfError);
    expect(err).toMatchObject({ errno: 2, code: "ENOENT" });
    expect((err as LibbpfError).message).toContain("ENOENT");
  });

  it("reports a buffer that is not ELF as a LibbpfError carrying libbpf's message", () => {
    let err: unknown;
    try {
      BpfObject.open({ buffer: new Uint8Array(64), name: "garbage" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LibbpfError);
    expect((err as LibbpfError).libbpfLog).toMatch(/elf|ELF/);
  });

  it("loads an object and hands out programs and maps with their own fds", () => {
    const obj = BpfObject.open({ path: mapsObj });
    obj.load();
    const prog = obj.program("touch_maps");
    const map = obj.map("hash_map");
    obj.close();
    // The handles own dup'd fds and outlive the object.
    expect(prog.info().name).toBe("touch_maps");
    expect(prog.info().mapIds).toContain(map.info.id);
    expect(map.info.type).toBe("hash");
    prog.close();
    map.close();
  });

  it("throws BpfLoadError with the verifier log when the verifier rejects a program", () => {
    using obj = BpfObject.open({ path: rejectedObj });
    let err: unknown;
    try {
      obj.load();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BpfLoadError);
    const loadErr = err as BpfLoadError;
    expect(loadErr).toBeInstanceOf(LibbpfError);
    expect(loadErr.program).toBe("deref_unchecked");
    expect(loadErr.verifierLog).toMatch(/invalid mem access 'map_value_or_null'/);
    expect(loadErr.message).toMatch(/deref_unchecked/);
    expect(loadErr.libbpfLog).toMatch(/deref_unchecked/);
    expect(() => obj.program("fine")).toThrow(/not loaded/);
  });

  it("loads with the rejected program's autoload turned off", () => {
    using obj = BpfObject.open({ path: rejectedObj });
    obj.setAutoload("deref_unchecked", false);
    expect(obj.programs().find((p) => p.name === "deref_unchecked")?.autoload).toBe(false);
    obj.load();
    using fine = obj.program("fine");
    expect(fine.info().type).toBe("socket_filter");
    expect(() => obj.program("deref_unchecked")).toThrow(/autoload is off/);
  });

  it("keeps a verbose verifier log on success when asked", () => {
    using obj = BpfObject.open({ path: rejectedObj });
    obj.setAutoload("deref_unchecked", false);
    obj.load({ logLevel: 1, logSize: 1 << 16 });
  });

  it("changes program and expected attach types by libbpf name", () => {
    using obj = BpfObject.open({ path: countersObj });
    obj.setProgramType("count_socket", "cgroup_skb");
    obj.setExpectedAttachType("count_socket", "cgroup_inet_ingress");
    expect(obj.programs().find((p) => p.name === "count_socket")?.type).toBe("cgroup_skb");
  });

  it("rejects unknown type names with a TypeError naming them", () => {
    using obj = BpfObject.open({ path: countersObj });
    expect(() => obj.setProgramType("count_socket", "no_such_type")).toThrow(TypeError);
    expect(() => obj.setProgramType("count_socket", "no_such_type")).toThrow(/"no_such_type".*socket_filter/);
    expect(() => obj.setExpectedAttachType("count_socket", "bogus_attach")).toThrow(/unknown attach type "bogus_attach"/);
  });

  it("names the programs and maps that exist when asked for a missing one", () => {
    using obj = BpfObject.open({ path: mapsObj });
    expect(() => obj.setAutoload("nope", false)).toThrow(/no program "nope".*touch_maps/);
    obj.load();
    expect(() => obj.program("nope")).toThrow(/no program "nope"; it has: touch_maps/);
    expect(() => obj.map("nope")).toThrow(/no map "nope".*hash_map/);
  });

  it("refuses program() before load and setters after load", () => {
    using obj = BpfObject.open({ path: mapsObj });
    expect(() => obj.program("touch_maps")).toThrow(/not loaded/);
    obj.load();
    expect(() => obj.setAutoload("touch_maps", false)).toThrow(/already loaded/);
    expect(() => obj.load()).toThrow(/already loaded/);
  });

  it("throws ClosedError after close and tolerates closing twice", () => {
    const obj = BpfObject.open({ path: mapsObj });
    obj.close();
    obj.close();
    expect(() => obj.programs()).toThrow(ClosedError);
    expect(() => obj.load()).toThrow(ClosedError);
    expect(() => obj.map("hash_map")).toThrow(/BpfObject maps is closed/);
  });
});
