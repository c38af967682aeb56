/**
 * Plain data types of the binding: what the kernel or the ELF says about an object, kept apart
 * from the live handles (`BpfObject`, `BpfProgram`, `BpfMap`, `BpfLink`) that own file
 * descriptors.
 */

/** A program as the ELF declares it (before or after load). */
export interface ProgramSpec {
  /** The C function name. */
  name: string;
  /** The ELF section, e.g. `kprobe/sys_execve`. Informational: the agent attaches by spec. */
  sectionName: string;
  /** libbpf's name of the program type, e.g. `kprobe`, `tracepoint`, `xdp`, `unspec`. */
  type: string;
  autoload: boolean;
  /** libbpf's name of the expected attach type (`cgroup_inet_egress`, ...); meaningful for some types only. */
  expectedAttachType: string;
}

/** A map as the ELF declares it (before load). */
export interface MapSpec {
  name: string;
  /** libbpf's name of the map type, e.g. `hash`, `percpu_array`. */
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** `map_flags` as declared (`BPF_F_NO_PREALLOC`, ...). */
  flags: number;
  /**
   * Where libbpf will pin the map at load (and reuse a map already pinned there): set for maps
   * declared with `__uint(pinning, LIBBPF_PIN_BY_NAME)`, `<pin root>/<map name>`; null otherwise.
   * {@link BpfObject.setMapPinPath} changes or clears it.
   */
  pinPath: string | null;
}

/** What the kernel reports about a loaded map (`bpf_map_info`). */
export interface MapInfo {
  id: number;
  name: string;
  /** libbpf's name of the map type, e.g. `hash`, `percpu_hash`, `array`. */
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** Kernel BTF object id; 0 when the map has no BTF. */
  btfId: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
}

/** What the kernel reports about a loaded program (`bpf_prog_info`). */
export interface ProgramInfo {
  id: number;
  name: string;
  /** libbpf's name of the program type. */
  type: string;
  /** The program tag as 16 hex digits. */
  tag: string;
  /** Times the program ran; counted only while BPF stats are enabled (see `enableStats`). */
  runCount: bigint;
  /** Total nanoseconds the program ran; counted only while BPF stats are enabled. */
  runTimeNs: bigint;
  /** Ids of the maps the program uses. */
  mapIds: number[];
  btfId: number;
}

/** What the kernel reports about a link (`bpf_link_info`). */
export interface LinkInfo {
  id: number;
  /** libbpf's name of the link type, e.g. `perf_event`, `xdp`, `cgroup`. */
  type: string;
  programId: number;
  /** Cgroup links: the cgroup's id (its directory's inode number), 0 once the cgroup was removed. */
  cgroupId?: bigint;
  /**
   * XDP links: the device's ifindex, 0 once the device is gone. The index is the one the device
   * has in the namespace it is in now, which the link does not say (see `xdpProgramIds`).
   */
  ifindex?: number;
}

/** All entries of a map, read in one go. Keys and values are packed back to back. */
export interface MapEntries {
  count: number;
  keySize: number;
  /**
   * Bytes per value slot. For per-CPU maps this is `roundUp(valueSize, 8) * possibleCpus`:
   * one 8-byte-aligned slot per possible CPU, as the kernel lays them out.
   */
  valueStride: number;
  keys: Buffer;
  values: Buffer;
  /** How the entries were read: one batch syscall per chunk, or get-next-key + lookup per key. */
  method: "batch" | "iterate";
  /** Number of bpf() syscalls issued. */
  syscalls: number;
  /**
   * Present when the read filled buffers the map reuses (`readAll({ reuse: true })`): hands them
   * back for the next read. `keys` and `values` must not be used afterwards. Idempotent.
   */
  release?(): void;
}

/** A BTF type, resolved through typedefs and const/volatile/restrict modifiers. */
export type BtfType =
  | { kind: "int"; name: string; size: number; signed: boolean; char: boolean; bool: boolean }
  | { kind: "struct" | "union"; name: string; size: number; members: BtfMember[] }
  | { kind: "array"; size: number; length: number; elementType: BtfType }
  | { kind: "enum"; name: string; size: number; signed: boolean; values: BtfEnumValue[] }
  | { kind: "float"; name: string; size: number }
  | { kind: "pointer"; size: number }
  | { kind: "unknown"; name: string; size: number; btfKind: string };

export interface BtfMember {
  name: string;
  /** Byte offset of the member within its struct (bit offset / 8, rounded down). */
  offset: number;
  /** Bit offset within the struct; for bit fields, with `bitSize` > 0. */
  bitOffset: number;
  /** Bit-field width, 0 for ordinary members. */
  bitSize: number;
  type: BtfType;
}

export interface BtfEnumValue {
  name: string;
  value: bigint;
}

/** XDP attach mode. `auto` lets the kernel choose (native when the driver supports it). */
export type XdpMode = "auto" | "native" | "generic" | "offload";

/** Flags for `BpfMap.update`. */
export type UpdateFlag = "any" | "noexist" | "exist";

/** One argument condition of a {@link SeccompRule}; all of a rule's conditions must hold. */
export type SeccompArgCompare =
  | { index: number; op: "eq"; value: number | bigint }
  /** `(arg & mask) == value` */
  | { index: number; op: "masked_eq"; mask: number | bigint; value: number | bigint };

export interface SeccompRule {
  /** Syscall name as libseccomp knows it (`openat`, `clone`, ...). */
  syscall: string;
  action: "allow" | "errno";
  /** For `errno`: the error the call returns. */
  errno?: number;
  args?: readonly SeccompArgCompare[];
}

export interface SeccompFilter {
  /** A classic-BPF seccomp program (`struct sock_filter[]`), as bubblewrap's `--seccomp FD` reads it. */
  program: Buffer;
  /** Rule names this architecture (or this libseccomp) does not know; those rules were skipped. */
  unresolved: string[];
}

/** A network device as the kernel lists it in one network namespace (`netnsLinks`). */
export interface NetnsLink {
  /** The device's index in that namespace (indexes are per namespace). */
  ifindex: number;
  /** Its name: chosen by whoever holds CAP_NET_ADMIN in the namespace, so never proof of anything. */
  name: string;
  loopback: boolean;
  up: boolean;
  /**
   * `IFLA_LINK_NETNSID`: set (>= 0) when the device's other end or lower device is in another
   * namespace (a veth whose peer is outside, an ipvlan/macvlan over a node's device); -1 when it
   * has none outside (loopback, a dummy, a veth pair made inside the namespace). Reported by the
   * kernel: a process in the namespace cannot make a device with a link outside unless it is
   * privileged in that other namespace too.
   */
  linkNetnsid: number;
  /** `IFLA_INFO_KIND` (`veth`, `ipvlan`, ...); empty for devices without one (loopback, physical). */
  kind: string;
}
