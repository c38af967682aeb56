/**
 * Loads the native addon once and describes it with a narrow, hand-written interface.
 * Internal: nothing here is part of the public API.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

import { createNativeError } from "./errors.js";
import type { NativeErrorDetail } from "./errors.js";
import type { BtfType, LinkInfo, NetnsLink, MapEntries, MapInfo, MapSpec, ProgramInfo, ProgramSpec, SeccompRule } from "./types.js";

/** A native handle owning one file descriptor. `fd` is -1 once closed. */
export interface NativeFd {
  readonly fd: number;
  /** Idempotent; defers the real close(2) while a readAll is in flight. */
  close(): void;
}

/** A native handle owning one `struct bpf_object`. */
export interface NativeObject {
  name(): string;
  programs(): ProgramSpec[];
  maps(): MapSpec[];
  setProgramType(program: string, type: number): void;
  setExpectedAttachType(program: string, type: number): void;
  setAutoload(program: string, autoload: boolean): void;
  setAttachTarget(program: string, funcName: string): void;
  setMapPinPath(map: string, path: string | null): void;
  mapTypes(map: string): { key?: BtfType; value?: BtfType };
  programInstructions(program: string): Buffer;
  setProgramInstructions(program: string, code: Uint8Array): void;
  load(logLevel: number, logSize: number, dropCapabilities: readonly string[]): void;
  programFd(program: string): NativeFd;
  mapFd(map: string): NativeFd;
  close(): void;
}

export type EnumKind = "prog" | "attach" | "map" | "link";

/** A read's result: `keys` and `values` absent when the caller's buffers held every entry. */
export type NativeMapRead = Omit<MapEntries, "keys" | "values" | "release"> & { keys?: Buffer; values?: Buffer };

export interface NativeAddon {
  registerErrorFactory(factory: (detail: NativeErrorDetail) => Error): void;
  openFile(path: string): NativeObject;
  openMem(buffer: Uint8Array, name: string): NativeObject;
  enumNames(kind: EnumKind): string[];

  progInfo(fd: number): ProgramInfo;
  attachTracepoint(progFd: number, category: string, name: string): NativeFd;
  attachTracepoint(progFd: number, category: string, name: string, dryRun: true): undefined;
  attachKprobe(progFd: number, func: string, retprobe: boolean, offset: number): NativeFd;
  attachUprobe(progFd: number, binaryPath: string, symbol: string | null, offset: number, pid: number, retprobe: boolean): NativeFd;
  attachRawTracepoint(progFd: number, name: string): NativeFd;
  attachTrace(progFd: number): NativeFd;
  probeTracing(attachType: number, btfName: string, btfKind: "func" | "typedef"): { supported: boolean; errno: number; log: string };
  attachXdp(progFd: number, ifindex: number, flags: number): NativeFd;
  attachCgroup(progFd: number, cgroup: string | number, attachType: number): NativeFd;
  attachSocket(socketFd: number, progFd: number): void;
  detachSocket(socketFd: number): void;
  probeProgType(type: number): boolean;
  enableStats(): NativeFd;
  progLoad(type: number, expectedAttachType: number, name: string, license: string, instructions: Uint8Array, logSize: number): NativeFd;

  mapInfo(fd: number): MapInfo;
  mapLookup(fd: number, key: Uint8Array, valueLength: number): Buffer | undefined;
  mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags: number): void;
  mapDelete(fd: number, key: Uint8Array): boolean;
  mapNextKey(fd: number, key: Uint8Array | null, keySize: number): Buffer | undefined;
  mapGetFdById(id: number): NativeFd;
  /** get-next-key + lookup per key on the thread pool; with `keys` and `values`, entries are written there (the result then has no buffers of its own unless they were too small). */
  mapIterateAll(handle: NativeFd, keySize: number, valueStride: number, maxEntries: number, keys?: Uint8Array, values?: Uint8Array): Promise<NativeMapRead>;
  /** One batch lookup: `n * 2 + (1 at the end of the map)`, or -1 when `count` cannot hold a hash bucket. */
  mapLookupBatch(
    handle: NativeFd,
    first: boolean,
    inCursor: Uint8Array,
    outCursor: Uint8Array,
    keys: Uint8Array,
    values: Uint8Array,
    offset: number,
    count: number,
    keySize: number,
    valueStride: number,
  ): number;
  /**
   * The whole batch read on the thread pool, into `keys` and `values` (see map.cc): bpf() errors
   * resolve with `errno`; `done` false without one means the buffers could not hold the next batch,
   * or (`paused`) that `limit` entries past `offset` were read: the caller goes on from `count`.
   */
  mapReadBatches(
    handle: NativeFd,
    keys: Uint8Array,
    values: Uint8Array,
    cursorA: Uint8Array,
    cursorB: Uint8Array,
    batchSize: number,
    keySize: number,
    valueStride: number,
    offset?: number,
    first?: boolean,
    limit?: number,
  ): Promise<{ count: number; syscalls: number; done: boolean; paused: boolean; first: boolean; swapped: boolean; chunk: number; errno: number }>;
  /** Defers close() of the handle until the matching mapUnhold. */
  mapHold(handle: NativeFd): void;
  mapUnhold(handle: NativeFd): void;
  possibleCpus(): number;
  releaseFreeMemory(): boolean;
  setThreadSlice(ns: number): { policy: number; sliceNs: number };
  threadSched(): { policy: number; sliceNs: number };
  probeMapType(type: number): boolean;
  mapCreate(type: number, name: string, keySize: number, valueSize: number, maxEntries: number, flags: number): NativeFd;

  progGetFdById(id: number): NativeFd;
  linkInfo(fd: number): LinkInfo;
  linkDetach(fd: number): void;
  objPin(fd: number, path: string): void;
  objGet(path: string): NativeFd;
  objType(fd: number): "prog" | "map" | "link" | "unknown";
  unpin(path: string): void;

  btfDescribe(btfId: number, typeIds: number[]): BtfType[];
  btfNames(paths: string[], basePath: string | null, kind: "func" | "typedef", prefix: string): string[];

  openPacketSocket(ifindex: number, protocol: number): NativeFd;

  netnsLinks(nsFd: number): NetnsLink[];
  xdpProgramIds(ifindex: number, nsFd: number): number[];
  attachXdpInNetns(nsFd: number, progFd: number, ifindex: number, flags: number): NativeFd;
  openPacketSocketInNetns(nsFd: number, ifindex: number, protocol: number): NativeFd;

  buildSeccompFilter(options: { defaultErrno: number; rules: readonly SeccompRule[] }): { program: Buffer; unresolved: string[] };
}

const ADDON_FILE = "build/Release/ebpf_libbpf.node";

let cached: NativeAddon | undefined;

/**
 * The addon, loaded on first use. Looked up relative to this module: `../build/Release` works
 * both from `src/` (tests) and from `dist/` (published build).
 */
export function native(): NativeAddon {
  if (cached !== undefined) return cached;
  const candidates = [fileURLToPath(new URL(`../${ADDON_FILE}`, import.meta.url))];
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    throw new Error(
      `@ebpf-operator/libbpf: native addon not built (looked for ${candidates.join(", ")}); ` + "run `npm run build:native -w @ebpf-operator/libbpf`",
    );
  }
  const require = createRequire(import.meta.url);
  const addon = require(found) as NativeAddon;
  addon.registerErrorFactory(createNativeError);
  cached = addon;
  return addon;
}
