/**
 * The plugin contract. Every eBPF program type (kprobe, tracepoint, XDP, ...) is a package whose
 * default export is a `ProgramTypePlugin`: it says which `spec.type`s it handles, how their
 * `spec.target` reads, whether this kernel supports them, how to prepare the object before load
 * and how to attach. Core never special-cases a program type; a third-party package that follows
 * this contract adds a type without any change to core.
 *
 * Plugins reach the kernel only through `@ebpf-operator/libbpf`'s typed handles.
 */
import type { BpfLink, BpfObject, BpfProgram } from "@ebpf-operator/libbpf";
import type { ResourceRef } from "../api/manifest.js";
import type { Logger } from "../logger.js";

/**
 * The plugin-API version this core implements. A plugin declares the version it was written for
 * in `meta.apiVersion`; the host refuses a plugin of another major version, with a clear error.
 */
export const PLUGIN_API_VERSION = 1;

export interface PluginMeta {
  /** The npm package name. */
  name: string;
  /** The package version (semver). */
  version: string;
  /** The plugin-API version the plugin implements (see `PLUGIN_API_VERSION`). */
  apiVersion: number;
  /** The `spec.type` values the plugin handles, e.g. `["kprobe", "kretprobe"]`. */
  programTypes: readonly string[];
  description?: string;
  /**
   * True when the program types observe every process on the node (kprobes, tracepoints), not
   * just what one namespace's pods do. The operator refuses such resources in a namespace the
   * cluster admin has not allowed (see docs/tenancy.md).
   */
  kernelWide?: boolean;
}

/** Whether this kernel can run a program type, and if not, why and what to use instead. */
export type KernelSupport = { supported: true } | { supported: false; reason: string; hint?: string };

/** What a plugin may ask of the host, beyond the BPF handles. */
export interface PluginHost {
  logger: Logger;
  /** Mounts tracefs when missing and returns its path (tracepoint and kprobe plugins need it). */
  tracefs(): Promise<string>;
}

export interface PrepareInput<TTarget> {
  object: BpfObject;
  /** The program named by `spec.program`. */
  programName: string;
  programType: string;
  target: TTarget;
}

export interface AttachInput<TTarget> {
  /** The loaded program; from a fresh load or reopened from its pin when re-attaching. */
  program: BpfProgram;
  programType: string;
  target: TTarget;
  resource: ResourceRef;
  host: PluginHost;
}

/**
 * Links an earlier agent attached and pinned, found again after a restart, for one program at
 * one target (node-wide) or in one pod (pod scope): see `ProgramTypePlugin.adopted`.
 */
export interface AdoptInput<TTarget> {
  /** The pinned links, reopened (the host closes them). */
  links: readonly BpfLink[];
  programType: string;
  /** What `attach` would receive now: node-wide the target resolved again; pod scope `podScope.target`'s for the pod. */
  target: TTarget;
  host: PluginHost;
}

/**
 * What an attach produced. Links are pinned by the host so the program keeps running across an
 * agent restart; a `handle` (a socket filter held by an open socket, say) cannot be pinned and is
 * attached again when the agent adopts the resource.
 */
export type Attachment = { kind: "link"; link: BpfLink; description: string } | { kind: "handle"; description: string; close(): void };

/**
 * One selected pod's cgroup v2, as pod scope hands it to a plugin (never the root cgroup); with
 * `spec.selector.container`, the cgroup of that container of the pod (`container` set).
 */
export interface PodCgroupTarget {
  /** The cgroup's directory as the agent sees it (below the cgroup v2 mount). */
  directory: string;
  /** Its path in the hierarchy (`/kubepods/besteffort/pod<uid>`). */
  path: string;
  namespace: string;
  pod: string;
  /** `spec.selector.container`: the container whose cgroup `directory` and `path` are. */
  container?: string;
  /**
   * The pod's own network namespace, for types that declare `network` (never the node's: the
   * host refuses pods on the node's network before asking the plugin).
   */
  netns?: PodNetnsTarget;
}

/**
 * A selected pod's network namespace, open for the duration of one attach: make links and
 * sockets in it through libbpf's `netnsFd` options (they stay valid after the host closes it).
 */
export interface PodNetnsTarget {
  /** An open fd of the pod's network namespace (`/proc/<pid>/ns/net`), owned by the host. */
  fd: number;
  /** The namespace's inode number (what `ip netns identify` and `/proc/<pid>/ns/net` show). */
  inode: bigint;
}

/**
 * How a program type runs in pod scope (`spec.selector`). A plugin without `podScope` does not
 * support pod scope (the resource is refused, never run node-wide instead).
 *
 * - `mode: "attach"` (the default): the host finds the selected pods on the node and attaches
 *   the loaded program once per pod with the target `target()` returns (cgroup programs).
 * - `mode: "gate"`: for types that run on every task wherever they attach (tracing). The host
 *   loads the program but never attaches it; it attaches in its place a gate of its own, of the
 *   same kernel program type, at the target as written (resolved as node-wide targets are, and
 *   attached with this plugin's `attach`), which tail-calls the program only for tasks below a
 *   selected pod's cgroup. The type must allow tail calls between programs of one type.
 *   With `gateTargets`, the gate is attached per pod instead (see there).
 */
export interface PodScopeSupport<TTarget> {
  /** `attach` (the default) or `gate`: see above. */
  mode?: "attach" | "gate";
  /** Throws `PluginTargetError` when `target` cannot be made relative to a pod (before anything loads). */
  check(programType: string, target: TTarget): void;
  /** `attach` mode: the target for one pod, what `attach` then receives. */
  target?(programType: string, target: TTarget, pod: PodCgroupTarget): TTarget;
  /**
   * `attach` mode: true when the type attaches in the pod's network namespace (its interfaces):
   * the host then finds the namespace (`pod.netns`), and refuses a pod that has none of its own
   * (hostNetwork). For the `xdp` and `socket_filter` kernel types the program `attach` receives
   * is the host's gate for that pod, which hands the program the pod's cgroup id and tail-calls
   * it (`eop_pod_cgroup_id` in `<ebpf-operator/pod.h>`); other kernel types get the program.
   */
  network?: boolean;
  /**
   * `gate` mode: the kernel's attach-time checks of the program itself, as if attached at
   * `target`, without it ever running (a tail call skips them: the checks that bound what the
   * program may read of its context, say). Throws what attaching would. Needed unless the
   * type's context has one fixed size the verifier already bounds (kprobes' registers).
   */
  verify?(input: AttachInput<TTarget>): void | Promise<void>;
  /**
   * `gate` mode, optional: for types whose attach point lives inside the pod (a uprobe: a file
   * of the container's root filesystem). The host then never resolves nor attaches the target
   * as written: for each selected pod it asks for the pod's targets and attaches the gate at
   * each (the gate's cgroup filter still decides whose tasks run the program). Targets with
   * equal `key`s (the kernel object the attach lands on, e.g. a file's device and inode) are
   * attached once for all the pods naming them, so a shared file does not run the program twice
   * per call; the link moves to another pod when the pod holding it goes. The host calls
   * `release` (an fd the target holds, say) after attaching, success or not. Throw
   * `PluginTargetError` when the pod has none yet: the host reports it for that pod and asks
   * again at its next pod sync, and attaches nothing anywhere else.
   */
  gateTargets?(programType: string, target: TTarget, pod: PodCgroupTarget): Promise<PodGateTarget<TTarget>[]>;
  /** Types of the plugin that cannot run in pod scope, with why (refused with `EOP_ERR_POD_SCOPE_UNSUPPORTED`). */
  unsupported?: Readonly<Record<string, string>>;
}

/** One attach point of a selected pod, for `PodScopeSupport.gateTargets`. */
export interface PodGateTarget<TTarget> {
  /** What the plugin's `attach` receives for this pod. */
  target: TTarget;
  /** Identifies what the attach lands on: pods whose targets have equal keys share one attachment. */
  key: string;
  /** Frees what the target holds open; called by the host after the attach. */
  release?(): void | Promise<void>;
}

/** Returned by a decoder to drop the row (e.g. a `regexp` that does not match). */
export const SKIP: unique symbol = Symbol.for("ebpf-operator.decoder.skip");

/**
 * A label decoder: turns the bytes of a key field, or the previous decoder's output in a chain,
 * into label text. Decoders chain per label (`uint` then `syscall`, say); the output of one is
 * the input of the next (strings as UTF-8 bytes). This is the hot path of a scrape: no throwing
 * for unknown input — return a readable fallback such as `unknown:<n>`, or `SKIP`.
 */
export interface Decoder {
  /** The word users write in `labels[].decoders[].name`, e.g. `xdp_action`. */
  readonly name: string;
  decode(input: Buffer, options: Readonly<Record<string, unknown>>): string | Buffer | typeof SKIP;
}

/** A JSON Schema object (plain data; TypeBox schemas qualify). */
export type JsonSchema = Record<string, unknown>;

export interface ProgramTypePlugin<TTarget = unknown> {
  readonly meta: PluginMeta;
  /** JSON Schema of `spec.target` for this plugin's types (validated by the host with ajv). */
  readonly targetSchema: JsonSchema;
  /** Turns `spec.target` into the plugin's target; throws `PluginTargetError` when invalid. */
  parseTarget(programType: string, target: string): TTarget;
  /**
   * Whether the running kernel supports the program type. Called before anything is compiled or
   * loaded; the parsed target lets the plugin suggest an alternative in `hint`.
   */
  detectSupport(programType: string, host: PluginHost, target?: TTarget): Promise<KernelSupport>;
  /**
   * Checks that the attach point exists and resolves it (a syscall name to the kernel's symbol,
   * say); throws `PluginTargetError` with code `EOP_ERR_TARGET_NOT_FOUND` naming what is missing.
   */
  resolveTarget?(programType: string, target: TTarget, host: PluginHost): Promise<TTarget>;
  /** Before load: set the program type and expected attach type on the object. */
  prepare(input: PrepareInput<TTarget>): void;
  /** After load: attach the program. On failure, close whatever was already attached. */
  attach(input: AttachInput<TTarget>): Promise<Attachment[]>;
  /**
   * After an agent restart: whether links pinned by an earlier agent still sit where `attach`
   * would put them now, as the kernel reports them (an XDP link on the interfaces the target
   * names, in the pod's namespace in pod scope). False: the host detaches them and attaches
   * anew. Absent: pinned links are kept as they are.
   */
  adopted?(input: AdoptInput<TTarget>): boolean | Promise<boolean>;
  /** Label decoders this plugin contributes (XDP action names, say), usable by any resource. */
  readonly decoders?: readonly Decoder[];
  /** Pod scope support (see `PodScopeSupport`); absent: the types refuse `spec.selector`. */
  readonly podScope?: PodScopeSupport<TTarget>;
}

/** An invalid or missing attach point: becomes the resource's error status. */
export class PluginTargetError extends Error {
  readonly code: "EOP_ERR_TARGET_INVALID" | "EOP_ERR_TARGET_NOT_FOUND";
  constructor(code: "EOP_ERR_TARGET_INVALID" | "EOP_ERR_TARGET_NOT_FOUND", message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PluginTargetError";
    this.code = code;
  }
}

/**
 * Declares a plugin. The identity function keeps the plugin's target type inferred; the host
 * checks the metadata when it registers the plugin.
 */
export function definePlugin<TTarget>(plugin: ProgramTypePlugin<TTarget>): ProgramTypePlugin<TTarget> {
  return plugin;
}
