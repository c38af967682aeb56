import { describeBtfTypes } from "./btf.js";
import { enumValue } from "./enums.js";
import { LibbpfError } from "./errors.js";
import { checkPath, checkUint, FdOwner } from "./handle.js";
import { native } from "./native.js";
import type { NativeFd } from "./native.js";
import type { BtfType, MapEntries, MapInfo, UpdateFlag } from "./types.js";

/** Options for {@link BpfMap.readAll}. */
export interface ReadAllOptions {
  /** Entries per batch syscall. Default `min(4096, maxEntries)`; grown automatically if a hash bucket needs more. */
  batchSize?: number;
  /**
   * `batch`: `bpf_map_lookup_batch` only (kernel 5.6+, not every map type). `iterate`:
   * get-next-key + lookup per entry. `auto` (default): batch, falling back to iterate when the
   * kernel does not support batch lookups for the map type.
   */
  method?: "auto" | "batch" | "iterate";
  /**
   * Read into buffers this map keeps and fills again on every read (allocated once, sized for
   * `maxEntries`, never zero-filled), instead of new buffers per read. The result's `keys` and
   * `values` then view those buffers: call its `release()` when done with them, after which they
   * must not be used. A read while another's buffers are still held allocates a second set.
   */
  reuse?: boolean;
  /**
   * Where the batch read runs. `true`: the whole read on the libuv thread pool, one hop there and
   * back. `false`: one batch call at a time on the JS thread, yielding to the event loop every
   * 2 ms. Default: the thread pool for maps of {@link OFF_THREAD_MIN_ENTRIES} entries or more.
   */
  offThread?: boolean;
  /**
   * Hand-over: called on the JS thread with each run of entries as soon as it is read, in map
   * order, every entry of the result exactly once, all before `readAll` resolves. Off the JS
   * thread the read goes on meanwhile (the worker fills the buffers past the run handed over),
   * so decoding a run overlaps reading the next; on the JS thread (and for `iterate`) the whole
   * read comes as one run at the end. The run's buffers are valid during the call only (copy what
   * you keep). A failure later in the read still rejects `readAll`: runs handed over before it
   * are then not a whole read. A throw from the callback rejects the read (after the worker's
   * running call has settled, so the buffers are never written after the read ends).
   */
  onRun?: (run: MapRun) => void;
  /** Entries per hand-over run off the JS thread (default {@link HAND_OVER_ENTRIES}). */
  runEntries?: number;
}

/** A run of entries handed over during {@link BpfMap.readAll} (`onRun`). */
export interface MapRun {
  /** Index of the run's first entry in the whole read. */
  from: number;
  count: number;
  keys: Buffer;
  values: Buffer;
}

/**
 * Entries per hand-over run off the JS thread: each run costs one more thread-pool hop (two
 * wake-ups), so runs are large; 64k entries of a struct-keyed map are ~4 MiB and ~25-60 ms to read.
 */
export const HAND_OVER_ENTRIES = 1 << 16;

/**
 * From this many `maxEntries` on (65536), `readAll` reads batches on the thread pool by default.
 * A hop costs two thread wake-ups, which on a loaded machine take milliseconds each (a thread
 * that sleeps waits for a CPU when it wakes; the sliced read never sleeps), while every yield of
 * a sliced read lets a CPU hog in. A/B under the bench lock on 11-30 (load 3-8 from other work,
 * plus the hog in the busy rows; 9 paired runs, medians): at 100k struct keys the busy read took
 * 0.86x the C floor on the pool against 1.20x sliced (stalls 15.3 against 16.2 ms); at 10k
 * (3 pairs) the sliced read was the faster (0.46x against 1.07x, stalls 13.8 against 21.0 ms). So
 * the pool from between the two: 64k entries read in ~25-60 ms, where two wake-ups are a small
 * share. Not measured at 64k itself; docs/architecture.md has the figures, and the cost seen:
 * the whole 100k scrape took longer with the pool read in most pairs (see there).
 */
export const OFF_THREAD_MIN_ENTRIES = offThreadMinFromEnv() ?? 1 << 16;

/**
 * `EOP_READ_OFF_THREAD_MIN` (entries) overrides the threshold: for A/B runs of the scrape bench
 * on one build; not a setting to tune in production (the default follows the measurements).
 */
function offThreadMinFromEnv(): number | undefined {
  const raw = process.env.EOP_READ_OFF_THREAD_MIN;
  if (raw === undefined || !/^\d{1,10}$/.test(raw)) return undefined;
  return Number(raw);
}

/**
 * Keys, values and batch cursors for {@link BpfMap.readAll}: room for `capacity` entries,
 * uninitialized (a read exposes only what it filled; pages never touched cost no memory).
 */
class ReadBuffers {
  readonly keys: Buffer;
  readonly values: Buffer;
  /** The kernel's batch position, in and out: a key, or a 4-byte bucket index for hash maps. */
  readonly cursors: [Buffer, Buffer];

  constructor(
    readonly capacity: number,
    keySize: number,
    valueStride: number,
  ) {
    this.keys = Buffer.allocUnsafeSlow(capacity * keySize);
    this.values = Buffer.allocUnsafeSlow(capacity * valueStride);
    const cursor = Math.max(keySize, 8);
    this.cursors = [Buffer.alloc(cursor), Buffer.alloc(cursor)];
  }
}

/** A sliced read yields to the event loop once it has run this long. */
const READ_SLICE_MS = 2;
/** Batches are capped to about this many bytes (keys and values), so one call stays short. */
const BATCH_BYTES = 1 << 20;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Errors of a first batch call that mean "no batch lookups for this map type". */
const BATCH_UNSUPPORTED: ReadonlySet<string> = new Set(["EINVAL", "ENOTSUPP", "EOPNOTSUPP"]);

const PER_CPU_TYPES: ReadonlySet<string> = new Set(["percpu_hash", "percpu_array", "lru_percpu_hash", "percpu_cgroup_storage"]);

const UPDATE_FLAGS: Record<UpdateFlag, number> = { any: 0, noexist: 1, exist: 2 };
const READ_METHODS: ReadonlySet<string> = new Set(["auto", "batch", "iterate"]);

/** Whether a map type (libbpf name) stores one value per possible CPU. */
export function isPerCpuMapType(type: string): boolean {
  return PER_CPU_TYPES.has(type);
}

/**
 * Bytes of one value as user space sees it: `valueSize`, or for per-CPU maps one slot of
 * `roundUp(valueSize, 8)` bytes per possible CPU.
 */
export function valueStrideOf(valueSize: number, perCpu: boolean, cpus: number): number {
  return perCpu ? Math.ceil(valueSize / 8) * 8 * cpus : valueSize;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

let construct: (handle: NativeFd, label: string) => BpfMap;

/**
 * A BPF map, held by its map file descriptor.
 *
 * Get one from {@link BpfObject.map} (a dup of the object's fd), {@link BpfMap.openPinned} or
 * {@link BpfMap.fromId}. The handle owns its fd: `close()` is idempotent, every other method
 * throws ClosedError afterwards, and garbage collection closes an unclosed handle. A close()
 * while `readAll` is running is deferred until the read finishes.
 *
 * Keys and values are raw bytes in the kernel's layout (host endianness, C struct padding).
 * Per-CPU maps (`percpu_hash`, `percpu_array`, `lru_percpu_hash`, `percpu_cgroup_storage`)
 * read and write {@link valueStride} bytes per value: `roundUp(valueSize, 8)` bytes for each
 * possible CPU, in CPU order.
 */
export class BpfMap implements Disposable {
  readonly #owner: FdOwner;
  /** What the kernel reported about the map when this handle was created. */
  readonly info: MapInfo;
  /** Whether values are per-CPU arrays of slots. */
  readonly isPerCpu: boolean;
  /** Bytes per value as read and written from user space. */
  readonly valueStride: number;
  /** The buffers `readAll({ reuse: true })` fills, while no read holds them. */
  #spare: ReadBuffers | undefined;
  /** The key and value types of the object that created the map, when given (useDeclaredTypes). */
  #declared: { key?: BtfType; value?: BtfType } | undefined;

  private constructor(handle: NativeFd, label: string) {
    let info: MapInfo;
    try {
      info = native().mapInfo(handle.fd);
    } catch (e) {
      handle.close();
      throw e;
    }
    this.#owner = new FdOwner(handle, info.name === "" ? label : `${label} (${info.name}, id ${info.id})`);
    this.info = info;
    this.isPerCpu = isPerCpuMapType(info.type);
    this.valueStride = valueStrideOf(info.valueSize, this.isPerCpu, this.isPerCpu ? native().possibleCpus() : 1);
  }

  static {
    construct = (handle, label) => new BpfMap(handle, label);
  }

  /** Opens a map pinned in bpffs (`bpf_obj_get`). The returned handle owns a new fd. */
  static openPinned(path: string): BpfMap {
    checkPath(path, "BpfMap.openPinned");
    const handle = native().objGet(path);
    const type = native().objType(handle.fd);
    if (type !== "map") {
      handle.close();
      throw new TypeError(`BpfMap.openPinned: ${path} is a pinned ${type}, not a map`);
    }
    return new BpfMap(handle, `BpfMap pinned at ${path}`);
  }

  /**
   * Creates a map outside any object (`bpf_map_create`): for maps of the caller's own (the
   * agent's pod-scope gate). `type` is libbpf's name (`hash`, `prog_array`, ...). The handle owns the fd.
   */
  static create(spec: { type: string; name: string; keySize: number; valueSize: number; maxEntries: number; flags?: number }): BpfMap {
    if (typeof spec.name !== "string" || !/^[A-Za-z0-9_]{1,15}$/.test(spec.name))
      throw new TypeError(`BpfMap.create: invalid name ${JSON.stringify(spec.name)}`);
    for (const field of ["keySize", "valueSize", "maxEntries"] as const) checkUint(spec[field], `BpfMap.create: ${field}`, 0xffffffff);
    const flags = spec.flags ?? 0;
    checkUint(flags, "BpfMap.create: flags", 0xffffffff);
    const h = native().mapCreate(enumValue("map", spec.type), spec.name, spec.keySize, spec.valueSize, spec.maxEntries, flags);
    return new BpfMap(h, `BpfMap ${spec.name}`);
  }

  /** Opens a map by its kernel id (`bpf_map_get_fd_by_id`, needs CAP_SYS_ADMIN). */
  static fromId(id: number): BpfMap {
    checkUint(id, "BpfMap.fromId: id");
    return new BpfMap(native().mapGetFdById(id), `BpfMap id ${id}`);
  }

  /** The map's file descriptor, owned by this handle. Throws ClosedError once closed. */
  get fd(): number {
    return this.#owner.fd;
  }

  /** Pins the map at `path` in bpffs (`bpf_obj_pin`). The pin outlives this process. */
  pin(path: string): void {
    checkPath(path, "BpfMap.pin");
    native().objPin(this.#owner.fd, path);
  }

  #checkKey(key: unknown, what: string): asserts key is Uint8Array {
    if (!(key instanceof Uint8Array)) throw new TypeError(`${what}: key must be a Uint8Array`);
    if (key.byteLength !== this.info.keySize) {
      throw new RangeError(`${what}: key is ${key.byteLength} bytes, map ${this.info.name} has keySize ${this.info.keySize}`);
    }
  }

  /** The value stored under `key` (`valueStride` bytes), or undefined if there is none. */
  lookup(key: Uint8Array): Buffer | undefined {
    const fd = this.#owner.fd;
    this.#checkKey(key, "BpfMap.lookup");
    return native().mapLookup(fd, key, this.valueStride);
  }

  /**
   * Stores `value` under `key`. `flag`: `any` (default) creates or replaces, `noexist` fails
   * with EEXIST if the key exists, `exist` fails with ENOENT if it does not. Array maps cannot
   * create keys (every index exists). `value` must be `valueStride` bytes.
   */
  update(key: Uint8Array, value: Uint8Array, flag: UpdateFlag = "any"): void {
    const fd = this.#owner.fd;
    this.#checkKey(key, "BpfMap.update");
    if (!(value instanceof Uint8Array)) throw new TypeError("BpfMap.update: value must be a Uint8Array");
    if (value.byteLength !== this.valueStride) {
      const per = this.isPerCpu ? ` (${this.info.valueSize} rounded up to 8, times ${this.valueStride / (Math.ceil(this.info.valueSize / 8) * 8)} CPUs)` : "";
      throw new RangeError(`BpfMap.update: value is ${value.byteLength} bytes, map ${this.info.name} needs ${this.valueStride}${per}`);
    }
    const flags = UPDATE_FLAGS[flag];
    if (flags === undefined) throw new TypeError(`BpfMap.update: unknown flag ${JSON.stringify(flag)}`);
    native().mapUpdate(fd, key, value, flags);
  }

  /** Deletes `key`; false if it was not there. Array maps do not support deletion (EINVAL). */
  delete(key: Uint8Array): boolean {
    const fd = this.#owner.fd;
    this.#checkKey(key, "BpfMap.delete");
    return native().mapDelete(fd, key);
  }

  /**
   * The key after `key` in the kernel's iteration order (`bpf_map_get_next_key`), the first key
   * without an argument, undefined at the end. For hash maps, a key that no longer exists
   * restarts the walk from the first key.
   */
  nextKey(key?: Uint8Array): Buffer | undefined {
    const fd = this.#owner.fd;
    if (key !== undefined) this.#checkKey(key, "BpfMap.nextKey");
    return native().mapNextKey(fd, key ?? null, this.info.keySize);
  }

  /**
   * Iterates over all entries synchronously with get-next-key + lookup. Entries deleted during
   * the walk are skipped and none is returned twice. Prefer {@link readAll} for large maps.
   */
  *entries(): Generator<[Buffer, Buffer]> {
    const seen = new Set<string>();
    let prev: Buffer | undefined;
    for (;;) {
      const key = this.nextKey(prev);
      if (key === undefined) return;
      const k = hex(key);
      if (seen.has(k)) {
        prev = key;
        continue;
      }
      seen.add(k);
      const value = this.lookup(key);
      if (value === undefined) {
        // Deleted since get_next_key: skip it, continue from the last key that existed.
        if (prev === undefined) prev = key;
        continue;
      }
      prev = key;
      yield [key, value];
    }
  }

  /**
   * Reads every entry. Keys and values come back packed in two buffers; `method` and `syscalls`
   * tell how. The result is not an atomic snapshot: entries changed during the read may or may
   * not be included, but none is included twice.
   *
   * `batch` makes the same `bpf_map_lookup_batch` calls as a C reader. For a large map
   * (`offThread`) they run one after the other on the libuv thread pool and the event loop is
   * free meanwhile; for a small one they run on the JS thread one call at a time (each well under
   * a millisecond), yielding to the event loop every 2 ms, without the two thread wake-ups a hop
   * costs on a busy machine. `iterate` (two syscalls per key) runs on the libuv thread pool.
   */
  readAll(options: ReadAllOptions = {}): Promise<MapEntries> {
    // Closed: throws now (ClosedError), as every other method does.
    return this.#readAll(this.#owner.handle, options);
  }

  async #readAll(handle: NativeFd, options: ReadAllOptions): Promise<MapEntries> {
    const method = options.method ?? "auto";
    if (!READ_METHODS.has(method)) throw new TypeError(`BpfMap.readAll: unknown method ${JSON.stringify(options.method)}`);
    const { keySize, maxEntries } = this.info;
    const stride = this.valueStride;
    const defaultBatch = Math.max(1, Math.min(4096, maxEntries, Math.floor(BATCH_BYTES / Math.max(1, keySize + stride))));
    const batchSize = options.batchSize ?? defaultBatch;
    checkUint(batchSize, "BpfMap.readAll: batchSize", 1 << 24);
    if (batchSize === 0) throw new RangeError("BpfMap.readAll: batchSize must be at least 1");
    const runEntries = options.runEntries ?? HAND_OVER_ENTRIES;
    checkUint(runEntries, "BpfMap.readAll: runEntries", 1 << 30);
    if (runEntries === 0) throw new RangeError("BpfMap.readAll: runEntries must be at least 1");
    if (options.onRun !== undefined && typeof options.onRun !== "function") throw new TypeError("BpfMap.readAll: onRun must be a function");
    const onRun = options.onRun;
    // Entries handed over so far (onRun): the rest goes in one run once the read is complete.
    let handed = 0;
    const handRest = (keys: Buffer, values: Buffer, count: number): void => {
      if (onRun === undefined || count <= handed) return;
      onRun({
        from: handed,
        count: count - handed,
        keys: keys.subarray(handed * keySize, count * keySize),
        values: values.subarray(handed * stride, count * stride),
      });
      handed = count;
    };

    // A batch may return up to batchSize entries past the last one: room for maxEntries + one batch.
    const capacity = maxEntries + batchSize;
    let buffers = options.reuse ? this.#spare : undefined;
    if (buffers === undefined || buffers.capacity < capacity) buffers = new ReadBuffers(capacity, keySize, stride);
    if (options.reuse) this.#spare = undefined;
    const taken = buffers;
    let released = false;
    const release = (): void => {
      if (released || !options.reuse) return;
      released = true;
      this.#spare ??= taken;
    };
    const view = (count: number, syscalls: number, how: "batch" | "iterate", from = taken): MapEntries => ({
      count,
      keySize,
      valueStride: stride,
      keys: from.keys.subarray(0, count * keySize),
      values: from.values.subarray(0, count * stride),
      method: how,
      syscalls,
      ...(options.reuse && from === taken ? { release } : {}),
    });

    try {
      if (method !== "iterate") {
        const offThread = options.offThread ?? maxEntries >= OFF_THREAD_MIN_ENTRIES;
        const hand =
          onRun && offThread ? { runEntries, run: (buffers: ReadBuffers, count: number) => handRest(buffers.keys, buffers.values, count) } : undefined;
        const read = await this.#readBatches(handle, taken, batchSize, method === "batch", offThread, hand);
        if (read !== undefined) {
          handRest(read.into.keys, read.into.values, read.count);
          // Outgrown (see #readBatches): the read is in larger buffers of its own; ours go back.
          if (read.into !== taken) release();
          return view(read.count, read.syscalls, "batch", read.into);
        }
      }
      const read = await native().mapIterateAll(handle, keySize, stride, maxEntries, taken.keys, taken.values);
      // `auto` that fell back made one batch call first.
      const syscalls = read.syscalls + (method === "auto" ? 1 : 0);
      if (read.keys !== undefined && read.values !== undefined) {
        release();
        handRest(read.keys, read.values, read.count);
        return { ...read, keys: read.keys, values: read.values, syscalls };
      }
      handRest(taken.keys, taken.values, read.count);
      return view(read.count, syscalls, "iterate");
    } catch (error) {
      release();
      throw error;
    }
  }

  /**
   * Batch lookups, on the thread pool (`offThread`) or on the JS thread in slices; undefined when
   * the kernel has no batch lookups for this map type (unless `required`: then that error).
   */
  async #readBatches(
    handle: NativeFd,
    buffers: ReadBuffers,
    batchSize: number,
    required: boolean,
    offThread: boolean,
    hand?: { runEntries: number; run: (buffers: ReadBuffers, count: number) => void },
  ): Promise<{ count: number; syscalls: number; into: ReadBuffers } | undefined> {
    const { keySize } = this.info;
    const stride = this.valueStride;
    const addon = native();
    let target = buffers;
    let [cursorIn, cursorOut] = buffers.cursors;
    let chunk = batchSize;
    let count = 0;
    let syscalls = 0;
    let first = true;
    addon.mapHold(handle);
    try {
      // Off the JS thread: one call for the whole read, or with a hand-over one per run; the
      // worker fills the buffers past `count` while the run before it is handed over.
      while (offThread) {
        const pending = addon.mapReadBatches(
          handle,
          target.keys,
          target.values,
          cursorIn,
          cursorOut,
          chunk,
          keySize,
          stride,
          count,
          first,
          hand?.runEntries ?? 0,
        );
        try {
          hand?.run(target, count);
        } catch (error) {
          // The worker writes into these buffers until it settles: only then may they go back.
          await pending.catch(() => undefined);
          throw error;
        }
        const r = await pending;
        count = r.count;
        syscalls += r.syscalls;
        chunk = r.chunk;
        first = r.first;
        if (r.errno !== 0) {
          const error =
            r.errno === 28 /* ENOSPC */
              ? new LibbpfError("bpf_map_lookup_batch", r.errno, { description: "a hash bucket holds more than 2^24 entries" })
              : new LibbpfError("bpf_map_lookup_batch", r.errno);
          if (first && !required && BATCH_UNSUPPORTED.has(error.code)) return undefined;
          throw error;
        }
        if (r.done) return { count, syscalls, into: target };
        if (r.swapped) [cursorIn, cursorOut] = [cursorOut, cursorIn];
        // Outgrown (rare, see below): the rest on this thread, from where the worker stopped.
        if (!r.paused) break;
      }
      let sliceStart = performance.now();
      // The longest call so far: a call that would run past the slice starts in a new one.
      let longest = 0;
      for (;;) {
        if (count + chunk > target.capacity) {
          // Rare: a bucket larger than the batch made the batch grow past the room left.
          const bigger = new ReadBuffers(Math.max(count + chunk, target.capacity * 2), keySize, stride);
          target.keys.copy(bigger.keys, 0, 0, count * keySize);
          target.values.copy(bigger.values, 0, 0, count * stride);
          target = bigger;
        }
        let r: number;
        const called = performance.now();
        try {
          r = addon.mapLookupBatch(handle, first, cursorIn, cursorOut, target.keys, target.values, count, chunk, keySize, stride);
        } catch (error) {
          if (first && !required && error instanceof LibbpfError && BATCH_UNSUPPORTED.has(error.code)) return undefined;
          throw error;
        }
        syscalls++;
        const now = performance.now();
        longest = Math.max(longest, now - called);
        if (r === -1) {
          // A hash bucket holds more entries than fit in this batch: grow and retry.
          if (chunk >= 1 << 24) throw new LibbpfError("bpf_map_lookup_batch", 28 /* ENOSPC */, { description: "a hash bucket holds more than 2^24 entries" });
          chunk *= 2;
          continue;
        }
        count += r >>> 1;
        if ((r & 1) === 1) break;
        [cursorIn, cursorOut] = [cursorOut, cursorIn];
        first = false;
        // A batch of 4096 in a map of 1M entries takes ~1.7 ms: two in one slice held the event
        // loop for ~3.5 ms, twice that on a busy machine (issue 16's stall goal is 10 ms there).
        if (now - sliceStart + longest >= READ_SLICE_MS) {
          await nextTurn();
          sliceStart = performance.now();
        }
      }
    } finally {
      addon.mapUnhold(handle);
    }
    return { count, syscalls, into: target };
  }

  #describe(typeId: number, side: "key" | "value"): BtfType | undefined {
    this.#owner.check();
    if (this.info.btfId === 0 || typeId === 0) return undefined;
    if (this.#declared) return this.#declared[side];
    return describeBtfTypes(this.info.btfId, [typeId])[0];
  }

  /**
   * Answers describeKey/describeValue from the types of the object that created this map
   * ({@link BpfObject.mapTypes}: the same BTF the kernel was given) instead of the map's kernel
   * BTF. Reading kernel BTF by id (`BPF_BTF_GET_FD_BY_ID`) needs CAP_SYS_ADMIN, which a loader
   * running with CAP_BPF alone (the agent's DaemonSet) does not have. {@link BpfObject.map} sets
   * them; a pinned map reopened later takes them from its own object file.
   */
  useDeclaredTypes(types: { key?: BtfType; value?: BtfType }): void {
    this.#owner.check();
    this.#declared = types;
  }

  /** The key's C type from the map's BTF (declared, or the kernel's), or undefined for maps created without BTF. */
  describeKey(): BtfType | undefined {
    return this.#describe(this.info.btfKeyTypeId, "key");
  }

  /** The value's C type from the map's BTF (declared, or the kernel's), or undefined for maps created without BTF. */
  describeValue(): BtfType | undefined {
    return this.#describe(this.info.btfValueTypeId, "value");
  }

  /** Closes this handle's fd (deferred while a readAll is running). Idempotent. */
  close(): void {
    this.#owner.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** @internal Wraps a native map handle. */
export function wrapMap(handle: NativeFd, label: string): BpfMap {
  return construct(handle, label);
}
