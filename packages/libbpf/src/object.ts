import { ClosedError } from "./errors.js";
import { enumValue } from "./enums.js";
import { warmUpFeatureProbes } from "./feature-probes.js";
import { checkPath, checkUint } from "./handle.js";
import { wrapMap } from "./map.js";
import type { BpfMap } from "./map.js";
import { native } from "./native.js";
import type { NativeObject } from "./native.js";
import { wrapProgram } from "./program.js";
import type { BpfProgram } from "./program.js";
import type { BtfType, MapSpec, ProgramSpec } from "./types.js";

/** Where to read a BPF ELF object from. */
export type ObjectSource = { path: string } | { buffer: Uint8Array; name: string };

/** Options for {@link BpfObject.load}. */
export interface LoadOptions {
  /**
   * Verifier log level for every program: 0 (default) logs nothing on success — libbpf then
   * retries a failed load with level 1 to capture the reason; 1 = instruction trace on error,
   * 2 = full trace, 4 = statistics (bit flags, may be combined).
   */
  logLevel?: number;
  /**
   * Bytes of verifier log kept per program, default 1 MiB. Kernels before 6.4 fail the load
   * with ENOSPC if the log does not fit; newer kernels keep the tail.
   */
  logSize?: number;
  /**
   * Capabilities removed from the loading thread's effective set while the kernel verifies the
   * programs (restored afterwards; the permitted set is untouched). The verifier grants helpers
   * and pointer handling by the loader's capabilities at load time, so a program loaded without
   * `CAP_PERFMON` and `CAP_SYS_ADMIN` is verified as an unprivileged tracer would be: no
   * `bpf_probe_read_kernel`, no `bpf_get_current_task`, no pointer leaks into maps, Spectre
   * mitigations on. Throws before loading anything if they cannot be dropped.
   */
  dropCapabilities?: readonly Capability[];
}

/** Linux capabilities {@link LoadOptions.dropCapabilities} can remove. */
export type Capability = "CAP_SYS_ADMIN" | "CAP_PERFMON" | "CAP_BPF" | "CAP_NET_ADMIN" | "CAP_NET_RAW" | "CAP_SYS_RESOURCE" | "CAP_SYSLOG";

const CAPABILITIES: readonly Capability[] = ["CAP_SYS_ADMIN", "CAP_PERFMON", "CAP_BPF", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_RESOURCE", "CAP_SYSLOG"];

const DEFAULT_LOG_SIZE = 1 << 20;

/**
 * A BPF ELF object as opened by libbpf (`struct bpf_object`): its programs and maps, first as
 * specs, then — after {@link load} — loaded into the kernel.
 *
 * The object owns the libbpf state and every fd libbpf created for it; `close()`
 * (`bpf_object__close`) releases them and is idempotent. Program and map handles taken with
 * {@link program} and {@link map} hold their own dup'd fds and stay valid after the object is
 * closed. Garbage collection closes an unclosed object.
 *
 * Loading needs CAP_BPF (plus CAP_PERFMON / CAP_NET_ADMIN for some program types) or root,
 * and kernel BTF (`/sys/kernel/btf/vmlinux`) for CO-RE relocations.
 */
export class BpfObject implements Disposable {
  #native: NativeObject | undefined;
  #state: "open" | "loaded" | "failed" = "open";
  /** The object name: from the file name (without `.o`) or the `name` given with a buffer. */
  readonly name: string;

  private constructor(handle: NativeObject) {
    this.#native = handle;
    this.name = handle.name();
  }

  /**
   * Opens (parses) an ELF object without loading it: `bpf_object__open_file` for a path,
   * `bpf_object__open_mem` for bytes (copied; `name` becomes the object name). Parse errors
   * throw a LibbpfError whose message carries libbpf's explanation.
   */
  static open(source: ObjectSource): BpfObject {
    if (typeof source !== "object" || source === null) throw new TypeError("BpfObject.open: expected a source");
    if ("path" in source) {
      checkPath(source.path, "BpfObject.open");
      return new BpfObject(native().openFile(source.path));
    }
    if (!(source.buffer instanceof Uint8Array)) throw new TypeError("BpfObject.open: buffer must be a Uint8Array");
    if (typeof source.name !== "string" || source.name === "") {
      throw new TypeError("BpfObject.open: a non-empty name is required with a buffer");
    }
    return new BpfObject(native().openMem(source.buffer, source.name));
  }

  get #handle(): NativeObject {
    if (this.#native === undefined) throw new ClosedError(`BpfObject ${this.name}`);
    return this.#native;
  }

  /** The programs the ELF defines, with libbpf's view of their type and autoload flag. */
  programs(): ProgramSpec[] {
    return this.#handle.programs();
  }

  /**
   * The maps the ELF defines, including libbpf's internal maps for global data
   * (`<object>.bss`, `.data`, `.rodata`, `.kconfig`).
   */
  maps(): MapSpec[] {
    return this.#handle.maps();
  }

  #checkProgram(program: string, what: string): void {
    const names = this.#handle.programs().map((p) => p.name);
    if (!names.includes(program)) {
      throw new Error(`${what}: object ${this.name} has no program ${JSON.stringify(program)}; it has: ${names.join(", ") || "(none)"}`);
    }
  }

  #checkOpen(what: string): void {
    if (this.#state !== "open") {
      throw new Error(`${what}: object ${this.name} was already loaded${this.#state === "failed" ? " (and the load failed)" : ""}`);
    }
  }

  /**
   * Overrides a program's type before load, by libbpf name (`kprobe`, `tracepoint`, `xdp`,
   * `socket_filter`, `cgroup_skb`, ...). Unknown names throw a TypeError listing libbpf's names.
   */
  setProgramType(program: string, type: string): void {
    this.#checkOpen("setProgramType");
    this.#checkProgram(program, "setProgramType");
    this.#handle.setProgramType(program, enumValue("prog", type));
  }

  /**
   * Overrides a program's expected attach type before load, by libbpf name
   * (`cgroup_inet_egress`, `cgroup_inet4_connect`, ...). Some program types (e.g.
   * `cgroup_sock_addr`) can only be attached to the type they were loaded for.
   */
  setExpectedAttachType(program: string, type: string): void {
    this.#checkOpen("setExpectedAttachType");
    this.#checkProgram(program, "setExpectedAttachType");
    this.#handle.setExpectedAttachType(program, enumValue("attach", type));
  }

  /**
   * Sets the kernel BTF type a tracing program is loaded for (`bpf_program__set_attach_target`):
   * the function of an `fentry`/`fexit` program, the tracepoint (without `btf_trace_`) of a
   * `tp_btf` one. Set the program type and expected attach type first; the name is resolved in
   * the kernel's BTF (vmlinux, then modules) right away and an unknown one throws ESRCH/ENOENT.
   */
  setAttachTarget(program: string, funcName: string): void {
    this.#checkOpen("setAttachTarget");
    this.#checkProgram(program, "setAttachTarget");
    if (typeof funcName !== "string" || funcName === "") throw new TypeError("setAttachTarget: expected a function or tracepoint name");
    this.#handle.setAttachTarget(program, funcName);
  }

  /**
   * Changes where libbpf pins a map at load (`bpf_map__set_pin_path`); `null` stops libbpf from
   * pinning it, and from reusing a map already pinned at the old path. A map declared with
   * `LIBBPF_PIN_BY_NAME` would otherwise be pinned at, and shared through, `/sys/fs/bpf/<name>`.
   */
  setMapPinPath(map: string, path: string | null): void {
    this.#checkOpen("setMapPinPath");
    const names = this.#handle.maps().map((m) => m.name);
    if (!names.includes(map)) throw new Error(`setMapPinPath: object ${this.name} has no map ${JSON.stringify(map)}; it has: ${names.join(", ") || "(none)"}`);
    if (path !== null) checkPath(path, "setMapPinPath");
    this.#handle.setMapPinPath(map, path);
  }

  /**
   * A map's key and value types from the object's own BTF (the ELF's `.BTF`), before or after
   * load — what the map's kernel BTF says once created, so an object can be checked against a
   * metric's expectations with no kernel at all. Undefined members: no BTF for that side.
   */
  mapTypes(map: string): { key?: BtfType; value?: BtfType } {
    const names = this.#handle.maps().map((m) => m.name);
    if (!names.includes(map)) throw new Error(`mapTypes: object ${this.name} has no map ${JSON.stringify(map)}; it has: ${names.join(", ") || "(none)"}`);
    return this.#handle.mapTypes(map);
  }

  /**
   * The program's instructions as libbpf holds them: before load, the function's own code from
   * the ELF (8 bytes per instruction, host byte order), subprograms not yet appended.
   */
  programInstructions(program: string): Buffer {
    this.#checkProgram(program, "programInstructions");
    return this.#handle.programInstructions(program);
  }

  /**
   * Replaces a program's instructions before load (`bpf_program__set_insns`). libbpf relocates
   * afterwards by instruction index: replace instructions one for one and only append, or the
   * relocations (maps, calls, CO-RE) land on the wrong instructions.
   */
  setProgramInstructions(program: string, code: Uint8Array): void {
    this.#checkOpen("setProgramInstructions");
    this.#checkProgram(program, "setProgramInstructions");
    if (!(code instanceof Uint8Array) || code.byteLength === 0 || code.byteLength % 8 !== 0) {
      throw new TypeError("setProgramInstructions: code must be a non-empty Uint8Array of 8-byte instructions");
    }
    this.#handle.setProgramInstructions(program, code);
  }

  /** Whether `load()` loads this program (default true). Unloaded programs have no fd. */
  setAutoload(program: string, autoload: boolean): void {
    this.#checkOpen("setAutoload");
    this.#checkProgram(program, "setAutoload");
    if (typeof autoload !== "boolean") throw new TypeError("setAutoload: autoload must be a boolean");
    this.#handle.setAutoload(program, autoload);
  }

  /**
   * Creates the maps and loads every autoload program (`bpf_object__load`). Can be attempted
   * once: libbpf unloads everything after a failure and refuses a second load.
   *
   * Throws {@link BpfLoadError} on failure; when the verifier rejected a program,
   * `verifierLog` holds its log and `program` its name. `libbpfLog` has libbpf's own messages
   * (relocation failures, missing kernel features).
   */
  load(options: LoadOptions = {}): void {
    const handle = this.#handle;
    this.#checkOpen("load");
    const logLevel = options.logLevel ?? 0;
    const logSize = options.logSize ?? DEFAULT_LOG_SIZE;
    checkUint(logLevel, "load: logLevel", 0xff);
    checkUint(logSize, "load: logSize", 0x3fffffff);
    if (logSize < 128) throw new RangeError("load: logSize must be at least 128 bytes");
    const drop = options.dropCapabilities ?? [];
    for (const cap of drop) {
      if (!CAPABILITIES.includes(cap)) throw new TypeError(`load: unknown capability ${JSON.stringify(cap)}; known: ${CAPABILITIES.join(", ")}`);
    }
    // libbpf caches some feature probes process-wide: settle them with full privileges first.
    if (drop.length > 0) warmUpFeatureProbes();
    try {
      handle.load(logLevel, logSize, drop);
      this.#state = "loaded";
    } catch (e) {
      this.#state = "failed";
      throw e;
    }
  }

  #checkLoaded(what: string): NativeObject {
    const handle = this.#handle;
    if (this.#state !== "loaded") {
      throw new Error(`${what}: object ${this.name} is not loaded${this.#state === "failed" ? " (load failed)" : ""}`);
    }
    return handle;
  }

  /**
   * A handle on a loaded program. It owns a dup of the program fd: close it independently of
   * the object. Throws if the program does not exist or was not loaded (autoload off).
   */
  program(name: string): BpfProgram {
    const handle = this.#checkLoaded("program");
    const spec = handle.programs().find((p) => p.name === name);
    if (spec === undefined) this.#checkProgram(name, "program");
    else if (!spec.autoload) throw new Error(`program: ${this.name}/${name} was not loaded (autoload is off)`);
    return wrapProgram(handle.programFd(name), `BpfProgram ${this.name}/${name}`);
  }

  /** A handle on a created map. It owns a dup of the map fd: close it independently of the object. */
  map(name: string): BpfMap {
    const handle = this.#checkLoaded("map");
    const names = handle.maps().map((m) => m.name);
    if (!names.includes(name)) {
      throw new Error(`map: object ${this.name} has no map ${JSON.stringify(name)}; it has: ${names.join(", ") || "(none)"}`);
    }
    const map = wrapMap(handle.mapFd(name), `BpfMap ${this.name}/${name}`);
    // Its types from this object's BTF: describing them needs no kernel BTF read (CAP_SYS_ADMIN).
    map.useDeclaredTypes(handle.mapTypes(name));
    return map;
  }

  /**
   * Closes the object (`bpf_object__close`): its program and map fds are released, so programs
   * and maps not held by a handle, pin or link are freed. Idempotent.
   */
  close(): void {
    const h = this.#native;
    this.#native = undefined;
    h?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
