import { enumValue } from "./enums.js";
import { checkPath, checkUint, FdOwner } from "./handle.js";
import { wrapLink } from "./link.js";
import type { BpfLink } from "./link.js";
import { native } from "./native.js";
import type { NativeFd } from "./native.js";
import type { ProgramInfo, XdpMode } from "./types.js";

/** Options for {@link BpfProgram.attachKprobe}. */
export interface KprobeOptions {
  /** Attach a kretprobe (function return) instead of a kprobe. */
  retprobe?: boolean;
  /** Byte offset into the function. Default 0. */
  offset?: number;
}

/** Options for {@link BpfProgram.attachUprobe}. */
export interface UprobeOptions {
  /** Function symbol to resolve in the binary's `.symtab`/`.dynsym`; `offset` is added to it. */
  symbol?: string;
  /** File offset; relative to `symbol` when given, absolute otherwise. Default 0. */
  offset?: number;
  /** Only fire for this process; default -1 = every process that maps the binary. */
  pid?: number;
  /** Attach a uretprobe (function return) instead of a uprobe. */
  retprobe?: boolean;
}

/** What {@link BpfProgram.load} loads: a program from raw instructions, outside any object. */
export interface RawProgramSpec {
  /** libbpf's program type name (`tracepoint`, `kprobe`, `raw_tracepoint`, ...). */
  type: string;
  /** libbpf's attach type name; default none (0). */
  expectedAttachType?: string;
  /** The kernel's name for the program (15 characters at most are kept). */
  name: string;
  /** Default `GPL`. */
  license?: string;
  /** `struct bpf_insn`s, 8 bytes each, in host byte order. Maps are referenced by fd (BPF_PSEUDO_MAP_FD). */
  instructions: Uint8Array;
}

/** Options for {@link BpfProgram.attachXdp}. */
export interface XdpOptions {
  /** Default `auto`: let the kernel pick native mode if the driver has it, generic otherwise. */
  mode?: XdpMode;
  /**
   * An open network-namespace fd (`/proc/<pid>/ns/net`): attach to the device `ifindex` of that
   * namespace (from a thread that enters it; Node's threads stay where they are). Default: the
   * caller's namespace. The fd stays the caller's; the link stays valid after it is closed.
   */
  netnsFd?: number;
}

const XDP_FLAGS: Record<XdpMode, number> = {
  auto: 0,
  generic: 1 << 1, // XDP_FLAGS_SKB_MODE
  native: 1 << 2, // XDP_FLAGS_DRV_MODE
  offload: 1 << 3, // XDP_FLAGS_HW_MODE
};

function checkFd(fd: unknown, what: string): asserts fd is number {
  checkUint(fd, what, 0x7fffffff);
}

function checkTracepointName(category: unknown, name: unknown, what: string): void {
  for (const [v, w] of [
    [category, "category"],
    [name, "name"],
  ] as const) {
    if (typeof v !== "string" || v === "" || v.includes("/") || v.includes("..")) {
      throw new TypeError(`${what}: invalid tracepoint ${w} ${JSON.stringify(v)}`);
    }
  }
}

let construct: (handle: NativeFd, label: string) => BpfProgram;

/**
 * A loaded BPF program, held by its program file descriptor.
 *
 * Get one from {@link BpfObject.program} (a dup of the object's fd: closing the object does not
 * close the program) or from {@link BpfProgram.openPinned}. The handle owns its fd; `close()`
 * is idempotent and the fd is also closed on garbage collection. The kernel keeps the program
 * while any fd, pin or link references it, so links returned by the `attach*` methods stay
 * attached after the program handle is closed.
 *
 * Every attach method works from the fd alone, so programs opened from a pin can be attached
 * too. Perf-event attaches (tracepoint, kprobe, uprobe) open the perf event in this process and
 * bind the program with a `BPF_PERF_EVENT` link, which needs kernel 5.15+.
 */
export class BpfProgram implements Disposable {
  readonly #owner: FdOwner;

  private constructor(handle: NativeFd, label: string) {
    this.#owner = new FdOwner(handle, label);
  }

  static {
    construct = (handle, label) => new BpfProgram(handle, label);
  }

  /** Opens a program pinned in bpffs (`bpf_obj_get`). The returned handle owns a new fd. */
  static openPinned(path: string): BpfProgram {
    checkPath(path, "BpfProgram.openPinned");
    const handle = native().objGet(path);
    const type = native().objType(handle.fd);
    if (type !== "prog") {
      handle.close();
      throw new TypeError(`BpfProgram.openPinned: ${path} is a pinned ${type}, not a program`);
    }
    return new BpfProgram(handle, `BpfProgram pinned at ${path}`);
  }

  /** Opens a program by its kernel id (`bpf_prog_get_fd_by_id`, needs CAP_SYS_ADMIN). */
  static fromId(id: number): BpfProgram {
    checkUint(id, "BpfProgram.fromId: id");
    return new BpfProgram(native().progGetFdById(id), `BpfProgram id ${id}`);
  }

  /**
   * Loads a program from raw instructions (`bpf_prog_load`), outside any object: for small
   * programs of the caller's own (the agent's pod-scope gate), where no compiler runs. Throws a
   * BpfLoadError with the verifier's log when the kernel refuses it. The handle owns the fd.
   */
  static load(spec: RawProgramSpec): BpfProgram {
    if (!(spec.instructions instanceof Uint8Array) || spec.instructions.byteLength === 0 || spec.instructions.byteLength % 8 !== 0) {
      throw new TypeError("BpfProgram.load: instructions must be a non-empty multiple of 8 bytes");
    }
    if (typeof spec.name !== "string" || !/^[A-Za-z0-9_]{1,15}$/.test(spec.name))
      throw new TypeError(`BpfProgram.load: invalid name ${JSON.stringify(spec.name)}`);
    const type = enumValue("prog", spec.type);
    const attach = spec.expectedAttachType === undefined ? 0 : enumValue("attach", spec.expectedAttachType);
    const h = native().progLoad(type, attach, spec.name, spec.license ?? "GPL", spec.instructions, 0);
    return new BpfProgram(h, `BpfProgram ${spec.name}`);
  }

  /** The program's file descriptor, owned by this handle. Throws ClosedError once closed. */
  get fd(): number {
    return this.#owner.fd;
  }

  /**
   * What the kernel reports about the program. `runCount`/`runTimeNs` only grow while BPF stats
   * are enabled (see {@link enableStats}).
   */
  info(): ProgramInfo {
    return native().progInfo(this.#owner.fd);
  }

  /** Pins the program at `path` in bpffs (`bpf_obj_pin`). The pin outlives this process. */
  pin(path: string): void {
    checkPath(path, "BpfProgram.pin");
    native().objPin(this.#owner.fd, path);
  }

  /**
   * Attaches a `kprobe` program to a kernel function through the kprobe PMU
   * (`/sys/bus/event_source/devices/kprobe`, CONFIG_KPROBE_EVENTS). Throws a LibbpfError
   * (usually ENOENT) on kernels built without kprobes; the legacy tracefs `kprobe_events`
   * interface is not used.
   */
  attachKprobe(func: string, options: KprobeOptions = {}): BpfLink {
    if (typeof func !== "string" || func === "") throw new TypeError("attachKprobe: expected a function name");
    const offset = options.offset ?? 0;
    checkUint(offset, "attachKprobe: offset", Number.MAX_SAFE_INTEGER);
    const h = native().attachKprobe(this.#owner.fd, func, options.retprobe === true, offset);
    return wrapLink(h, `BpfLink ${options.retprobe === true ? "kretprobe" : "kprobe"} ${func}`);
  }

  /**
   * Attaches a `tracepoint` program to `category/name` (as listed under
   * `/sys/kernel/tracing/events`; tracefs must be mounted there or at
   * `/sys/kernel/debug/tracing`).
   */
  attachTracepoint(category: string, name: string): BpfLink {
    checkTracepointName(category, name, "attachTracepoint");
    const h = native().attachTracepoint(this.#owner.fd, category, name);
    return wrapLink(h, `BpfLink tracepoint ${category}/${name}`);
  }

  /**
   * Runs the kernel's attach-time checks of a `tracepoint` program for `category/name` without
   * it ever running: binds it to a perf event that is never enabled, then lets both go. Throws
   * what attaching would (EACCES: the program reads past the event's record). For a program that
   * runs only through a tail call, which skips these checks.
   */
  checkTracepointAttach(category: string, name: string): void {
    checkTracepointName(category, name, "checkTracepointAttach");
    native().attachTracepoint(this.#owner.fd, category, name, true);
  }

  /** Attaches a `raw_tracepoint` program (`bpf_raw_tracepoint_open`, kernel 4.17+). */
  attachRawTracepoint(name: string): BpfLink {
    if (typeof name !== "string" || name === "") throw new TypeError("attachRawTracepoint: expected a name");
    const h = native().attachRawTracepoint(this.#owner.fd, name);
    return wrapLink(h, `BpfLink raw_tracepoint ${name}`);
  }

  /**
   * Attaches a `tracing` program (`tp_btf`, `fentry`, `fexit`) where the BTF id it was loaded for
   * says (see {@link BpfObject.setAttachTarget}), with `bpf_raw_tracepoint_open(NULL, fd)`
   * (kernel 5.5+). Works from the fd alone, so a program reopened from its pin attaches too.
   * fentry/fexit need BPF trampolines (ftrace function entries); kernels without them refuse
   * such programs already at load.
   */
  attachTrace(): BpfLink {
    const h = native().attachTrace(this.#owner.fd);
    return wrapLink(h, "BpfLink tracing");
  }

  /**
   * Attaches an `xdp` program to the interface `ifindex` of the caller's network namespace with
   * a BPF link (kernel 5.9+). Only one XDP link per interface and mode; the program detaches
   * when the last reference to the link goes away.
   */
  attachXdp(ifindex: number, options: XdpOptions = {}): BpfLink {
    checkUint(ifindex, "attachXdp: ifindex");
    const mode = options.mode ?? "auto";
    const flags = XDP_FLAGS[mode];
    if (flags === undefined) throw new TypeError(`attachXdp: unknown mode ${JSON.stringify(mode)}`);
    if (options.netnsFd !== undefined) {
      checkFd(options.netnsFd, "attachXdp: netnsFd");
      const h = native().attachXdpInNetns(options.netnsFd, this.#owner.fd, ifindex, flags);
      return wrapLink(h, `BpfLink xdp ifindex ${ifindex} in netns fd ${options.netnsFd}`);
    }
    const h = native().attachXdp(this.#owner.fd, ifindex, flags);
    return wrapLink(h, `BpfLink xdp ifindex ${ifindex}`);
  }

  /**
   * Attaches a cgroup program (`cgroup_skb`, `cgroup_sock`, `cgroup_sock_addr`, `sock_ops`, ...)
   * to a cgroup v2 directory (path) or an open cgroup fd, with a BPF link (kernel 5.7+).
   * `attachType` is libbpf's name, e.g. `cgroup_inet_egress`. A path is opened and closed
   * again; an fd stays owned by the caller.
   */
  attachCgroup(cgroup: string | number, attachType: string): BpfLink {
    if (typeof cgroup === "number") checkFd(cgroup, "attachCgroup: cgroup fd");
    else checkPath(cgroup, "attachCgroup");
    const type = enumValue("attach", attachType);
    const h = native().attachCgroup(this.#owner.fd, cgroup, type);
    return wrapLink(h, `BpfLink ${attachType} ${String(cgroup)}`);
  }

  /**
   * Attaches a `socket_filter` program to a socket (`SO_ATTACH_BPF`). Not a link: the filter
   * stays until {@link detachSocketFilter} or until the socket closes, and replaces any earlier
   * filter. The socket fd is the caller's.
   */
  attachSocketFilter(socketFd: number): void {
    checkFd(socketFd, "attachSocketFilter: socket fd");
    native().attachSocket(socketFd, this.#owner.fd);
  }

  /**
   * Removes the filter from a socket (`SO_DETACH_BPF`). Does not need this program's fd, so it
   * works on a closed handle too. Throws ENOENT if the socket has no filter.
   */
  detachSocketFilter(socketFd: number): void {
    checkFd(socketFd, "detachSocketFilter: socket fd");
    native().detachSocket(socketFd);
  }

  /**
   * Attaches a `kprobe`-type program as a uprobe on a user-space binary or library through the
   * uprobe PMU (kernel 4.17+). With `symbol`, the function is looked up in the file's ELF symbol
   * tables (`name@VERSION` matches `name`); otherwise `offset` is the file offset.
   */
  attachUprobe(binaryPath: string, options: UprobeOptions): BpfLink {
    checkPath(binaryPath, "attachUprobe");
    const offset = options.offset ?? 0;
    checkUint(offset, "attachUprobe: offset", Number.MAX_SAFE_INTEGER);
    const pid = options.pid ?? -1;
    if (!Number.isInteger(pid) || pid < -1) throw new RangeError(`attachUprobe: invalid pid ${String(pid)}`);
    if (options.symbol !== undefined && (typeof options.symbol !== "string" || options.symbol === "")) {
      throw new TypeError("attachUprobe: symbol must be a non-empty string");
    }
    if (options.symbol === undefined && offset === 0) {
      throw new TypeError("attachUprobe: give a symbol or a non-zero offset");
    }
    const h = native().attachUprobe(this.#owner.fd, binaryPath, options.symbol ?? null, offset, pid, options.retprobe === true);
    return wrapLink(h, `BpfLink uprobe ${binaryPath}:${options.symbol ?? `0x${offset.toString(16)}`}`);
  }

  /** Closes this handle's fd. Idempotent. Links created from it stay attached. */
  close(): void {
    this.#owner.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** @internal Wraps a native program handle. */
export function wrapProgram(handle: NativeFd, label: string): BpfProgram {
  return construct(handle, label);
}
