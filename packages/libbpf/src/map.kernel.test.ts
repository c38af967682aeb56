import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { compileFixture, makePinDir, makeTempDir, requireKernel, u32Key } from "./kernel-test-support.js";
import { BpfMap, BpfObject, BpfProgram, ClosedError, LibbpfError, OFF_THREAD_MIN_ENTRIES, possibleCpus } from "./index.js";
import type { MapEntries, MapRun } from "./index.js";
import { native } from "./native.js";

requireKernel();

const COUNT = 3000;

/** key hex -> value hex */
function asMap(e: MapEntries): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < e.count; i++) {
    const k = e.keys.subarray(i * e.keySize, (i + 1) * e.keySize).toString("hex");
    expect(out.has(k), `duplicate key ${k}`).toBe(false);
    out.set(k, e.values.subarray(i * e.valueStride, (i + 1) * e.valueStride).toString("hex"));
  }
  return out;
}

function u64Value(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** A per-CPU value: slot c holds `base + c` as a u64 (or u32 padded to 8). */
function perCpuValue(stride: number, base: number, cpus: number): Buffer {
  const b = Buffer.alloc(stride);
  const slot = stride / cpus;
  for (let c = 0; c < cpus; c++) b.writeUInt32LE(base + c, c * slot);
  return b;
}

describe("BpfMap", () => {
  const tmp = makeTempDir();
  const pins = makePinDir();
  let obj: BpfObject;
  let objectPath = "";
  const maps: Record<string, BpfMap> = {};
  const cpus = possibleCpus();

  beforeAll(() => {
    objectPath = compileFixture("maps", tmp.dir);
    obj = BpfObject.open({ path: objectPath });
    obj.load();
    for (const name of ["hash_map", "array_map", "percpu_hash_map", "percpu_array_map", "conn_map"]) {
      maps[name] = obj.map(name);
    }
    const hash = maps.hash_map!;
    const array = maps.array_map!;
    const pcHash = maps.percpu_hash_map!;
    const pcArray = maps.percpu_array_map!;
    for (let i = 0; i < COUNT; i++) {
      hash.update(u32Key(i + 1), u64Value(i * 3));
      array.update(u32Key(i), u64Value(i * 7));
      pcHash.update(u32Key(i + 1), perCpuValue(pcHash.valueStride, i, cpus));
      pcArray.update(u32Key(i), perCpuValue(pcArray.valueStride, i * 2, cpus));
    }
  });

  afterAll(() => {
    for (const m of Object.values(maps)) m.close();
    obj?.close();
    pins.remove();
    tmp.remove();
  });

  it("fetches the kernel's map info at construction", () => {
    const info = maps.hash_map!.info;
    expect(info).toMatchObject({ name: "hash_map", type: "hash", keySize: 4, valueSize: 8, maxEntries: 8192 });
    expect(info.id).toBeGreaterThan(0);
    expect(info.btfId).toBeGreaterThan(0);
  });

  it("updates, looks up, deletes and walks keys", () => {
    using m = BpfMap.fromId(maps.hash_map!.info.id);
    const key = u32Key(100_000);
    expect(m.lookup(key)).toBeUndefined();
    m.update(key, u64Value(42), "noexist");
    expect(m.lookup(key)?.readBigUInt64LE(0)).toBe(42n);
    expect(() => m.update(key, u64Value(1), "noexist")).toThrow(expect.objectContaining({ code: "EEXIST" }));
    expect(() => m.update(u32Key(100_001), u64Value(1), "exist")).toThrow(LibbpfError);
    m.update(key, u64Value(43), "exist");
    expect(m.lookup(key)?.readBigUInt64LE(0)).toBe(43n);
    expect(m.delete(key)).toBe(true);
    expect(m.delete(key)).toBe(false);
    expect(m.lookup(key)).toBeUndefined();

    const first = m.nextKey();
    expect(first).toBeDefined();
    const second = m.nextKey(first);
    expect(second).toBeDefined();
    expect(second?.equals(first!)).toBe(false);
  });

  it("validates key and value lengths before calling the kernel", () => {
    const m = maps.hash_map!;
    expect(() => m.lookup(new Uint8Array(3))).toThrow(/key is 3 bytes.*keySize 4/);
    expect(() => m.update(u32Key(1), new Uint8Array(4))).toThrow(/value is 4 bytes.*needs 8/);
    expect(() => maps.percpu_hash_map!.update(u32Key(1), new Uint8Array(4))).toThrow(new RegExp(`needs ${8 * cpus}`));
  });

  it("iterates entries synchronously", () => {
    const seen = new Map<number, bigint>();
    for (const [k, v] of maps.hash_map!.entries()) seen.set(k.readUInt32LE(0), v.readBigUInt64LE(0));
    expect(seen.size).toBe(COUNT);
    expect(seen.get(10)).toBe(27n);
  });

  it("keeps iterating without duplicates when the current key is deleted", () => {
    // Deleting the key just yielded makes a hash walk restart from the first key; entries()
    // must neither stop early nor yield a key twice.
    const m = maps.conn_map!;
    const key = (i: number): Buffer => {
      const k = Buffer.alloc(24);
      k.writeUInt32LE(i, 0);
      k.write(`comm${i}`, 4);
      k.writeUInt16LE(8000 + i, 20);
      return k;
    };
    for (let i = 0; i < 16; i++) m.update(key(i), Buffer.alloc(m.valueStride, i));
    const yielded: string[] = [];
    for (const [k, v] of m.entries()) {
      yielded.push(k.toString("hex"));
      expect(v[0]).toBe(k.readUInt32LE(0));
      if (yielded.length % 2 === 0) m.delete(k);
    }
    expect(new Set(yielded).size).toBe(16);
    expect(yielded.length).toBe(16);
    expect([...m.entries()].length).toBe(8);
  });

  it.each(["hash_map", "array_map", "percpu_hash_map", "percpu_array_map"])("reads %s the same way with batch and iterate", async (name) => {
    const m = maps[name]!;
    const batch = await m.readAll({ method: "batch" });
    const iterate = await m.readAll({ method: "iterate" });
    const auto = await m.readAll();
    expect(batch.method).toBe("batch");
    expect(iterate.method).toBe("iterate");
    expect(auto.method).toBe("batch");
    expect(batch.count).toBe(COUNT);
    expect(iterate.count).toBe(COUNT);
    expect(batch.valueStride).toBe(m.valueStride);
    expect(asMap(batch)).toEqual(asMap(iterate));
    expect(asMap(auto)).toEqual(asMap(iterate));
    expect(iterate.syscalls).toBeGreaterThanOrEqual(2 * COUNT);
    expect(batch.syscalls).toBeLessThan(10);
  });

  it.each(["hash_map", "array_map", "percpu_hash_map"])(
    "reads %s into the same buffers every time with reuse, a second set while one is held",
    async (name) => {
      const m = maps[name]!;
      const plain = asMap(await m.readAll());
      const first = await m.readAll({ reuse: true });
      expect(first.release).toBeTypeOf("function");
      expect(asMap(first)).toEqual(plain);
      // Held: a concurrent read fills another set.
      const second = await m.readAll({ reuse: true, method: "iterate" });
      expect(second.keys.buffer).not.toBe(first.keys.buffer);
      expect(asMap(second)).toEqual(plain);
      first.release!();
      first.release!(); // idempotent
      second.release!();
      // Released: the next read fills the first set again, and nothing else is allocated for it.
      const third = await m.readAll({ reuse: true });
      expect(third.keys.buffer).toBe(first.keys.buffer);
      expect(third.values.buffer).toBe(first.values.buffer);
      expect(asMap(third)).toEqual(plain);
      third.release!();
    },
  );

  it("iterates into buffers of its own when the caller's are too small", async () => {
    const m = maps.hash_map!;
    const small = { keys: Buffer.alloc(10 * m.info.keySize), values: Buffer.alloc(10 * m.valueStride) };
    const handle = native().mapGetFdById(m.info.id);
    const r = await native().mapIterateAll(handle, m.info.keySize, m.valueStride, m.info.maxEntries, small.keys, small.values);
    handle.close();
    expect(r.count).toBe(COUNT);
    expect(r.keys).toBeInstanceOf(Buffer);
    expect(asMap(r as MapEntries)).toEqual(asMap(await m.readAll()));
  });

  it("falls back to iteration for map types without batch lookups", async () => {
    using m = obj.map("stack_map");
    const r = await m.readAll();
    expect(r).toMatchObject({ method: "iterate", count: 0, syscalls: 2 });
    await expect(m.readAll({ method: "batch" })).rejects.toMatchObject({
      name: "LibbpfError",
      code: expect.stringMatching(/^(ENOTSUPP|EOPNOTSUPP|EINVAL)$/),
    });
  });

  it("falls back to iteration off the JS thread too for map types without batch lookups", async () => {
    using m = obj.map("stack_map");
    expect(await m.readAll({ offThread: true })).toMatchObject({ method: "iterate", count: 0 });
    await expect(m.readAll({ method: "batch", offThread: true })).rejects.toMatchObject({
      name: "LibbpfError",
      code: expect.stringMatching(/^(ENOTSUPP|EOPNOTSUPP|EINVAL)$/),
    });
  });

  it("grows the batch when a small batch size cannot hold a hash bucket", async () => {
    const r = await maps.hash_map!.readAll({ method: "batch", batchSize: 1 });
    expect(r.count).toBe(COUNT);
    expect(asMap(r).size).toBe(COUNT);
  });

  it("lays per-CPU values out as one 8-byte slot per possible CPU", async () => {
    const m = maps.percpu_hash_map!;
    expect(m.isPerCpu).toBe(true);
    expect(maps.hash_map!.isPerCpu).toBe(false);
    expect(m.valueStride).toBe(8 * cpus); // valueSize 4 rounded up to 8
    expect(maps.percpu_array_map!.valueStride).toBe(8 * cpus);
    const v = m.lookup(u32Key(11))!;
    expect(v.length).toBe(8 * cpus);
    let sum = 0;
    for (let c = 0; c < cpus; c++) sum += v.readUInt32LE(c * 8);
    expect(sum).toBe(cpus * 10 + (cpus * (cpus - 1)) / 2);

    const all = await maps.percpu_array_map!.readAll();
    let total = 0n;
    for (let i = 0; i < all.count; i++) {
      for (let c = 0; c < cpus; c++) total += all.values.readBigUInt64LE(i * all.valueStride + c * 8);
    }
    // slot c of index i holds 2i + c
    const expected = BigInt(cpus) * BigInt(COUNT * (COUNT - 1)) + BigInt(COUNT) * BigInt((cpus * (cpus - 1)) / 2);
    expect(total).toBe(expected);
  });

  it("returns consistent entries while keys are deleted during a readAll", async () => {
    using m = BpfMap.fromId(maps.hash_map!.info.id);
    const pending = m.readAll({ method: "iterate" });
    const deleted = new Set<number>();
    for (let k = 1; k <= COUNT; k += 3) {
      m.delete(u32Key(k));
      deleted.add(k);
    }
    const r = await pending;
    const got = asMap(r);
    for (const [kHex, vHex] of got) {
      const k = Buffer.from(kHex, "hex").readUInt32LE(0);
      expect(Buffer.from(vHex, "hex").readBigUInt64LE(0)).toBe(BigInt((k - 1) * 3));
    }
    for (let k = 1; k <= COUNT; k++) {
      if (!deleted.has(k)) expect(got.has(u32Key(k).toString("hex"))).toBe(true);
    }
    for (const k of deleted) m.update(u32Key(k), u64Value((k - 1) * 3));
  });

  it("defers close until an in-flight readAll finishes", async () => {
    const m = BpfMap.fromId(maps.array_map!.info.id);
    const pending = m.readAll({ method: "iterate" });
    m.close();
    expect(() => m.fd).toThrow(ClosedError);
    const r = await pending;
    expect(r.count).toBe(COUNT);
  });

  it("pins a map and reopens it from the pin and by id", () => {
    const m = maps.hash_map!;
    const path = `${pins.dir}/hash_map`;
    m.pin(path);
    using pinned = BpfMap.openPinned(path);
    using byId = BpfMap.fromId(m.info.id);
    expect(pinned.info.id).toBe(m.info.id);
    expect(byId.info.id).toBe(m.info.id);
    expect(pinned.fd).not.toBe(m.fd);
    expect(pinned.lookup(u32Key(2))?.readBigUInt64LE(0)).toBe(3n);
  });

  it("refuses to open a pinned program as a map", () => {
    using prog = obj.program("touch_maps");
    const path = `${pins.dir}/touch_maps`;
    prog.pin(path);
    expect(() => BpfMap.openPinned(path)).toThrow(/pinned prog, not a map/);
    using again = BpfProgram.openPinned(path);
    expect(again.info().id).toBe(prog.info().id);
  });

  it("describes a struct key from the map's BTF", () => {
    expect(maps.conn_map!.describeKey()).toEqual({
      kind: "struct",
      name: "conn_key",
      size: 24,
      members: [
        {
          name: "pid",
          offset: 0,
          bitOffset: 0,
          bitSize: 0,
          type: { kind: "int", name: "unsigned int", size: 4, signed: false, char: false, bool: false },
        },
        {
          name: "comm",
          offset: 4,
          bitOffset: 32,
          bitSize: 0,
          type: {
            kind: "array",
            size: 16,
            length: 16,
            elementType: expect.objectContaining({ kind: "int", name: "char", size: 1 }),
          },
        },
        {
          name: "port",
          offset: 20,
          bitOffset: 160,
          bitSize: 0,
          type: { kind: "int", name: "unsigned short", size: 2, signed: false, char: false, bool: false },
        },
      ],
    });
  });

  it("describes from the object's BTF what the kernel's BTF says, with no CAP_SYS_ADMIN (the agent's DaemonSet has none)", () => {
    // obj.map() answers from the object's BTF; fromId() (no object) reads the kernel's by id.
    using byId = BpfMap.fromId(maps.conn_map!.info.id);
    expect(maps.conn_map!.describeKey()).toEqual(byId.describeKey());
    expect(maps.conn_map!.describeValue()).toEqual(byId.describeValue());
    // A pinned map reopened in a process without CAP_SYS_ADMIN: its kernel BTF cannot be read
    // (BPF_BTF_GET_FD_BY_ID: EPERM), its object's types describe it.
    const pin = `${pins.dir}/conn_map_declared`;
    maps.conn_map!.pin(pin);
    const lib = fileURLToPath(new URL("../dist/index.js", import.meta.url));
    const script = `const { BpfMap, BpfObject } = await import(${JSON.stringify(lib)});
      const map = BpfMap.openPinned(${JSON.stringify(pin)});
      let kernel = "read";
      try { map.describeKey(); } catch (error) { kernel = error.message; }
      const object = BpfObject.open({ path: ${JSON.stringify(objectPath)} });
      map.useDeclaredTypes(object.mapTypes("conn_map"));
      console.log(JSON.stringify({ kernel, key: map.describeKey() }, (k, v) => (typeof v === "bigint" ? v.toString() : v)));`;
    const child = spawnSync("setpriv", ["--inh-caps=-sys_admin", "--bounding-set=-sys_admin", process.execPath, "--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    expect(child.status, child.stderr).toBe(0);
    const seen = JSON.parse(child.stdout) as { kernel: string; key: unknown };
    expect(seen.kernel).toMatch(/btf__load_from_kernel_by_id\(\d+\): Operation not permitted/);
    expect(seen.key).toEqual(JSON.parse(JSON.stringify(byId.describeKey(), (k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))));
  });

  it("describes typedefs, enums, bit fields, bools and pointers in a value", () => {
    const v = maps.conn_map!.describeValue();
    expect(v?.kind).toBe("struct");
    if (v?.kind !== "struct") return;
    const byName = new Map(v.members.map((m) => [m.name, m]));
    expect(byName.get("bytes")?.type).toMatchObject({ kind: "int", name: "unsigned long long", size: 8 });
    const state = byName.get("state")?.type;
    expect(state).toMatchObject({ kind: "enum", name: "conn_state", size: 4 });
    if (state?.kind === "enum") {
      const values = new Map(state.values.map((e) => [e.name, e.value]));
      expect(values.get("CONN_NEW")).toBe(1n);
      expect(values.get("CONN_ESTABLISHED")).toBe(2n);
      expect(values.get("CONN_CLOSED")).toBe(state.signed ? -1n : 0xffffffffn);
    }
    expect(byName.get("flags")).toMatchObject({ bitSize: 3, offset: 12, bitOffset: 96 });
    expect(byName.get("kind")).toMatchObject({ bitSize: 5, bitOffset: 99 });
    expect(byName.get("open")?.type).toMatchObject({ kind: "int", bool: true, size: 1 });
    expect(byName.get("next")?.type).toEqual({ kind: "pointer", size: 8 });
  });

  it("throws ClosedError after close and tolerates closing twice", async () => {
    const m = BpfMap.fromId(maps.hash_map!.info.id);
    m.close();
    m.close();
    expect(() => m.lookup(u32Key(1))).toThrow(ClosedError);
    expect(() => m.readAll()).toThrow(ClosedError);
    expect(() => m.describeKey()).toThrow(/is closed/);
    expect(() => [...m.entries()]).toThrow(ClosedError);
  });
});

describe("BpfMap.readAll off the JS thread", () => {
  /** A hash map holding `n` u32 keys (1..n) whose u64 values are `key * 3`, created outside any object. */
  function bigHash(n: number, type: "hash" | "percpu_hash" = "hash", maxEntries = n): BpfMap {
    const m = BpfMap.create({ type, name: `eop_rd_${process.pid % 100000}`, keySize: 4, valueSize: 8, maxEntries });
    const value = Buffer.alloc(m.valueStride);
    for (let k = 1; k <= n; k++) {
      value.writeBigUInt64LE(BigInt(k * 3), 0);
      m.update(u32Key(k), value);
    }
    return m;
  }

  /** key -> first u64 of the value; fails on a key read twice. */
  function byKey(e: MapEntries): Map<number, bigint> {
    const out = new Map<number, bigint>();
    const twice: number[] = [];
    for (let i = 0; i < e.count; i++) {
      const k = e.keys.readUInt32LE(i * e.keySize);
      if (out.has(k)) twice.push(k);
      out.set(k, e.values.readBigUInt64LE(i * e.valueStride));
    }
    expect(twice, "keys read twice").toEqual([]);
    return out;
  }

  // Maps large enough to be read off the JS thread by default (maxEntries decides), partly filled.
  const N = 65536;
  let hash: BpfMap;
  let percpu: BpfMap;
  beforeAll(() => {
    hash = bigHash(N, "hash", OFF_THREAD_MIN_ENTRIES);
    percpu = bigHash(N, "percpu_hash", OFF_THREAD_MIN_ENTRIES);
  });
  afterAll(() => {
    hash?.close();
    percpu?.close();
  });

  it.each(["hash", "percpu"])("reads a %s map the same on the thread pool, on the JS thread and key by key", async (which) => {
    const m = which === "hash" ? hash : percpu;
    const pool = await m.readAll({ method: "batch", offThread: true, reuse: true });
    const sliced = await m.readAll({ method: "batch", offThread: false });
    const iterate = await m.readAll({ method: "iterate" });
    expect(pool).toMatchObject({ method: "batch", count: N });
    expect(pool.syscalls).toBe(sliced.syscalls);
    const got = byKey(pool);
    expect(got).toEqual(byKey(sliced));
    expect(got).toEqual(byKey(iterate));
    expect(got.get(N)).toBe(BigInt(N * 3));
    // Into the map's own buffers, again on the next read once released.
    pool.release!();
    const again = await m.readAll({ offThread: true, reuse: true });
    expect(again.keys.buffer).toBe(pool.keys.buffer);
    expect(byKey(again)).toEqual(got);
    again.release!();
  });

  it("reads maps of OFF_THREAD_MIN_ENTRIES maxEntries or more off the JS thread by default, smaller ones on it", async () => {
    const spy = vi.spyOn(native(), "mapReadBatches");
    try {
      expect((await hash.readAll()).count).toBe(N);
      expect(spy).toHaveBeenCalledTimes(1);
      using small = bigHash(3000, "hash", OFF_THREAD_MIN_ENTRIES - 1);
      expect((await small.readAll()).count).toBe(3000);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  it("runs the event loop while it reads, and every entry nobody touched is read once while others change", async () => {
    // Keys 1..N, from the JS thread while the pool reads: every 3rd is deleted, every 3rd + 1
    // gets a new value, the rest stay.
    using m = BpfMap.fromId(hash.info.id);
    let settled = false;
    const pending = m.readAll({ offThread: true }).finally(() => (settled = true));
    let rounds = 0;
    let k = 1;
    const value = Buffer.alloc(8);
    while (!settled && k <= N) {
      rounds++;
      for (const end = Math.min(N, k + 300); k <= end; k++) {
        if (k % 3 === 0) m.delete(u32Key(k));
        else if (k % 3 === 1) {
          value.writeBigUInt64LE(BigInt(k * 3 + 1));
          m.update(u32Key(k), value);
        }
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const r = await pending;
    const changedUpTo = k;
    // The read was in flight across several turns of the event loop, changes made in each.
    expect(rounds).toBeGreaterThan(1);
    const got = byKey(r);
    const wrong: string[] = [];
    for (let key = 1; key <= N; key++) {
      const v = got.get(key);
      const touched = key < changedUpTo && key % 3 !== 2;
      const ok = !touched
        ? v === BigInt(key * 3) // untouched: read, with its value
        : key % 3 === 1
          ? v === BigInt(key * 3) || v === BigInt(key * 3 + 1) // updated: the old or the new value
          : v === undefined || v === BigInt(key * 3); // deleted: gone, or read before it went
      if (!ok) wrong.push(`${key}: ${v}`);
    }
    expect(wrong).toEqual([]);
    // Put the map back for the other tests.
    for (let key = 1; key <= N; key++) {
      value.writeBigUInt64LE(BigInt(key * 3));
      m.update(u32Key(key), value);
    }
  });

  it("finishes a read whose map is closed meanwhile, then closes the fd", async () => {
    const m = BpfMap.fromId(hash.info.id);
    const fd = m.fd;
    const pending = m.readAll({ offThread: true });
    m.close();
    expect(() => m.fd).toThrow(ClosedError);
    expect(() => m.readAll()).toThrow(ClosedError);
    const r = await pending;
    expect(r.count).toBe(N);
    expect(byKey(r).get(N)).toBe(BigInt(N * 3));
    // The deferred close happened once the read was done: that descriptor (its number may have
    // been reused since, but not by this map: nothing else opened it) no longer holds the map.
    let fdinfo = "";
    try {
      fdinfo = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
    } catch {
      fdinfo = "(closed)";
    }
    expect(fdinfo).not.toMatch(new RegExp(`^map_id:\\s+${hash.info.id}$`, "m"));
  });

  describe("hand-over of runs while the read goes on (onRun)", () => {
    /** Every run handed over, copied (a run's buffers are valid during the call only). */
    function collect(into: { from: number; count: number; keys: Buffer; values: Buffer }[], also?: (run: MapRun) => void) {
      return (run: MapRun): void => {
        into.push({ from: run.from, count: run.count, keys: Buffer.from(run.keys), values: Buffer.from(run.values) });
        also?.(run);
      };
    }

    it.each(["hash", "percpu"])("hands a %s map over in order, each run while the next is read, the same entries and syscalls as one hop", async (which) => {
      const m = which === "hash" ? hash : percpu;
      const whole = await m.readAll({ method: "batch", offThread: true });
      const spy = vi.spyOn(native(), "mapReadBatches");
      const runs: { from: number; count: number; keys: Buffer; values: Buffer }[] = [];
      // When a run is handed over, the call reading past it must already have been started.
      const startedAtHand: number[] = [];
      try {
        const r = await m.readAll({
          method: "batch",
          offThread: true,
          runEntries: 8192,
          reuse: true,
          onRun: collect(runs, () => startedAtHand.push(spy.mock.calls.length)),
        });
        expect(r).toMatchObject({ method: "batch", count: N });
        expect(r.syscalls).toBe(whole.syscalls);
        // Runs of at least runEntries (a worker call stops at the first batch past it), the last aside.
        expect(runs.length).toBeGreaterThan(2);
        expect(runs.slice(0, -1).filter((x) => x.count < 8192)).toEqual([]);
        // Contiguous, in order, covering the read exactly once.
        let next = 0;
        for (const run of runs) {
          expect(run.from).toBe(next);
          expect(run.count).toBeGreaterThan(0);
          next += run.count;
        }
        expect(next).toBe(r.count);
        expect(Buffer.concat(runs.map((x) => x.keys)).equals(r.keys)).toBe(true);
        expect(Buffer.concat(runs.map((x) => x.values)).equals(r.values)).toBe(true);
        expect(byKey(r)).toEqual(byKey(whole));
        // Each worker call started from where the one before stopped.
        const offsets = spy.mock.calls.map((c) => c[8]);
        expect(offsets[0]).toBe(0);
        for (let i = 1; i < runs.length; i++) expect(offsets[i]).toBe(runs[i - 1]!.from + runs[i - 1]!.count);
        // Every run but the last was handed over with the next worker call in flight.
        for (let i = 0; i < runs.length - 1; i++) expect(startedAtHand[i]).toBe(i + 2);
        r.release!();
      } finally {
        spy.mockRestore();
      }
    });

    it("hands the whole read over as one run on the JS thread and key by key", async () => {
      for (const options of [{ method: "batch", offThread: false }, { method: "iterate" }] as const) {
        const runs: { from: number; count: number; keys: Buffer; values: Buffer }[] = [];
        const r = await hash.readAll({ ...options, onRun: collect(runs) });
        expect(runs.map((x) => [x.from, x.count])).toEqual([[0, N]]);
        expect(runs[0]!.keys.equals(r.keys)).toBe(true);
      }
    });

    it("rejects the read when batch k fails, after the runs before it, and gives the buffers back", async () => {
      // The kernel's error for the second worker call is injected at the binding (a real
      // mid-read failure cannot be provoked on demand); the first call reads for real.
      const addon = native();
      const real = addon.mapReadBatches.bind(addon);
      let calls = 0;
      const spy = vi.spyOn(addon, "mapReadBatches").mockImplementation(async (...args: Parameters<typeof real>) => {
        const r = await real(...args);
        return ++calls === 2 ? { ...r, errno: 14 /* EFAULT */, done: false, paused: false } : r;
      });
      const runs: { from: number; count: number; keys: Buffer; values: Buffer }[] = [];
      try {
        const before = await hash.readAll({ offThread: true, reuse: true });
        const buffer = before.keys.buffer;
        before.release!();
        calls = 0;
        await expect(hash.readAll({ offThread: true, reuse: true, runEntries: 8192, onRun: collect(runs) })).rejects.toMatchObject({ code: "EFAULT" });
        expect(runs.map((x) => x.from)).toEqual([0]);
        expect(runs[0]!.count).toBeGreaterThanOrEqual(8192);
        // The map's buffers came back: the next read fills the same ones.
        spy.mockRestore();
        const after = await hash.readAll({ offThread: true, reuse: true });
        expect(after.keys.buffer).toBe(buffer);
        expect(after.count).toBe(N);
        after.release!();
      } finally {
        spy.mockRestore();
      }
    });

    it("rejects the read when a run's consumer throws, only once the worker's call has settled", async () => {
      const addon = native();
      const real = addon.mapReadBatches.bind(addon);
      let inFlight = 0;
      const spy = vi.spyOn(addon, "mapReadBatches").mockImplementation((...args: Parameters<typeof real>) => {
        inFlight++;
        return real(...args).finally(() => inFlight--);
      });
      try {
        const before = await hash.readAll({ offThread: true, reuse: true });
        const buffer = before.keys.buffer;
        before.release!();
        let handed = 0;
        const failing = hash.readAll({
          offThread: true,
          reuse: true,
          runEntries: 8192,
          onRun: () => {
            if (++handed === 2) throw new Error("consumer failed");
          },
        });
        await expect(failing).rejects.toThrow("consumer failed");
        expect(inFlight).toBe(0);
        expect(handed).toBe(2);
        const after = await hash.readAll({ offThread: true, reuse: true });
        expect(after.keys.buffer).toBe(buffer);
        expect(after.count).toBe(N);
        after.release!();
      } finally {
        spy.mockRestore();
      }
    });

    it("finishes a read whose map is closed between runs, then closes the fd", async () => {
      const m = BpfMap.fromId(hash.info.id);
      const fd = m.fd;
      const runs: { from: number; count: number; keys: Buffer; values: Buffer }[] = [];
      const r = await m.readAll({ offThread: true, runEntries: 8192, onRun: collect(runs, (run) => run.from === 0 && m.close()) });
      expect(() => m.readAll()).toThrow(ClosedError);
      expect(runs.length).toBeGreaterThan(1);
      expect(r.count).toBe(N);
      expect(byKey(r).get(N)).toBe(BigInt(N * 3));
      let fdinfo = "";
      try {
        fdinfo = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
      } catch {
        fdinfo = "(closed)";
      }
      expect(fdinfo).not.toMatch(new RegExp(`^map_id:\\s+${hash.info.id}$`, "m"));
    });

    it("refuses a bad runEntries or onRun", async () => {
      await expect(hash.readAll({ runEntries: 0, onRun: () => undefined })).rejects.toThrow(RangeError);
      await expect(hash.readAll({ runEntries: -1 })).rejects.toThrow(RangeError);
      await expect(hash.readAll({ onRun: 5 as unknown as () => void })).rejects.toThrow(TypeError);
    });
  });

  it("continues on the JS thread when a hash bucket makes the batch outgrow the buffers", async () => {
    // A full hash map read one entry per call at first: buckets of several entries double the
    // batch (ENOSPC), and near the end the batch no longer fits in maxEntries + 1 entries.
    using m = bigHash(4000);
    const r = await m.readAll({ method: "batch", batchSize: 1, offThread: true });
    expect(r.count).toBe(4000);
    const got = byKey(r);
    expect([...got.entries()].filter(([key, v]) => v !== BigInt(key * 3))).toEqual([]);
    expect(got.size).toBe(4000);
    // The worker itself stops there, without an error, with what it read so far.
    const handle = native().mapGetFdById(m.info.id);
    const small = { keys: Buffer.alloc(10 * 4), values: Buffer.alloc(10 * 8) };
    const partial = await native().mapReadBatches(handle, small.keys, small.values, Buffer.alloc(8), Buffer.alloc(8), 4, 4, 8);
    handle.close();
    expect(partial).toMatchObject({ done: false, errno: 0, first: false });
    expect(partial.count).toBeGreaterThan(0);
    expect(partial.count).toBeLessThanOrEqual(10);
  });
});
