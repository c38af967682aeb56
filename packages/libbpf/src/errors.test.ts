import { describe, expect, it } from "vitest";

import { BpfLoadError, ClosedError, createNativeError, errnoCode, LibbpfError } from "./errors.js";
import { isPerCpuMapType, valueStrideOf } from "./map.js";

describe("errnoCode", () => {
  it("maps errno values to their symbolic names", () => {
    expect(errnoCode(1)).toBe("EPERM");
    expect(errnoCode(2)).toBe("ENOENT");
    expect(errnoCode(-13)).toBe("EACCES");
  });

  it("prefers the kernel's spelling for aliased values", () => {
    expect(errnoCode(95)).toBe("EOPNOTSUPP");
    expect(errnoCode(11)).toBe("EAGAIN");
  });

  it("names kernel-internal values that bpf() leaks", () => {
    expect(errnoCode(524)).toBe("ENOTSUPP");
  });

  it("falls back to E<number> for unknown values", () => {
    expect(errnoCode(9999)).toBe("E9999");
  });
});

describe("LibbpfError", () => {
  it("formats op, description and code, and exposes positive errno", () => {
    const e = new LibbpfError("bpf_obj_get(/x)", -2, { description: "No such file or directory" });
    expect(e.message).toBe("bpf_obj_get(/x): No such file or directory (ENOENT)");
    expect(e).toMatchObject({ name: "LibbpfError", op: "bpf_obj_get(/x)", errno: 2, code: "ENOENT", libbpfLog: "" });
    expect(e).toBeInstanceOf(Error);
  });

  it("appends libbpf's last message line", () => {
    const e = new LibbpfError("bpf_object__open_mem(x)", 22, {
      description: "Invalid argument",
      libbpfLog: "libbpf: elf: first\nlibbpf: elf: failed to get ELF header\n\n",
    });
    expect(e.message).toBe("bpf_object__open_mem(x): Invalid argument (EINVAL); libbpf: elf: failed to get ELF header");
  });

  it("keeps a cause", () => {
    const cause = new Error("root");
    expect(new LibbpfError("op", 1, { cause }).cause).toBe(cause);
  });
});

describe("BpfLoadError", () => {
  it("names the rejected program and the verifier's verdict", () => {
    const e = new BpfLoadError("bpf_object__load", 13, {
      description: "Permission denied",
      program: "bad",
      verifierLog: "0: (79) r0 = *(u64 *)(r0 +0)\nR0 invalid mem access 'map_value_or_null'\nprocessed 7 insns (limit 1000000)\n",
      libbpfLog: "libbpf: failed to load object 'x'\n",
    });
    expect(e.message).toBe("bpf_object__load: Permission denied (EACCES); program 'bad' rejected by the verifier: R0 invalid mem access 'map_value_or_null'");
    expect(e).toBeInstanceOf(LibbpfError);
    expect(e.program).toBe("bad");
    expect(e.name).toBe("BpfLoadError");
  });

  it("is what the native addon's load failures become", () => {
    const e = createNativeError({
      kind: "load",
      op: "bpf_object__load",
      errno: 22,
      message: "Invalid argument",
      libbpfLog: "libbpf: map 'x': failed to create\n",
      verifierLog: "",
    });
    expect(e).toBeInstanceOf(BpfLoadError);
    expect((e as BpfLoadError).program).toBeUndefined();
    expect(e.message).toBe("bpf_object__load: Invalid argument (EINVAL); libbpf: map 'x': failed to create");
    expect(createNativeError({ kind: "libbpf", op: "op", errno: 1, message: "m", libbpfLog: "" })).not.toBeInstanceOf(BpfLoadError);
  });
});

describe("ClosedError", () => {
  it("names the handle", () => {
    expect(new ClosedError("BpfMap id 3").message).toBe("BpfMap id 3 is closed");
  });
});

describe("per-CPU value layout", () => {
  it("rounds each CPU's slot up to 8 bytes", () => {
    expect(valueStrideOf(4, true, 2)).toBe(16);
    expect(valueStrideOf(8, true, 3)).toBe(24);
    expect(valueStrideOf(12, true, 4)).toBe(64);
    expect(valueStrideOf(12, false, 4)).toBe(12);
  });

  it("knows which map types are per-CPU", () => {
    for (const t of ["percpu_hash", "percpu_array", "lru_percpu_hash", "percpu_cgroup_storage"]) {
      expect(isPerCpuMapType(t)).toBe(true);
    }
    expect(isPerCpuMapType("hash")).toBe(false);
  });
});
