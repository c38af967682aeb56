/**
 * Turns a compiled object into running, pinned kernel state for one resource, and back:
 *
 *   per program: plugin lookup -> target check -> kernel support      (preflight)
 *   read + inspect -> open -> contain pinning -> prepare each -> check (enforcement)
 *   -> observe rewrite each -> load all (capabilities dropped) -> attach each -> pin
 *
 * A resource has one program (the flat spec) or several (`spec.programs`) from one object,
 * sharing its maps; they load and attach together or not at all.
 * Loading is all-or-nothing: on any failure everything already created is closed and unpinned,
 * and the error names the step and carries the real cause (verifier log tail, errno text).
 * A complete pinned generation for the same resource and code is adopted instead of loaded, so
 * a restarted agent neither resets counters nor attaches twice.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, rm, rmdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { BpfLink, BpfLoadError, BpfMap, BpfObject, BpfProgram, LibbpfError, possibleCpus, type MapSpec, type ProgramSpec } from "@ebpf-operator/libbpf";
import type { ResourceRef } from "../api/manifest.js";
import { programField, programsOf, type ResourceProgram } from "../api/programs.js";
import type { EbpfMapSpec } from "../api/schema.js";
import { hasErrno, operatorError, withCode } from "../errors.js";
import { ObjectFormatError, inspectObject, type ObjectReport } from "../inspect/inspect-object.js";
import type { Logger } from "../logger.js";
import type { PluginRegistry } from "../plugin/plugin-registry.js";
import { PluginTargetError, type Attachment, type PluginHost, type PodCgroupTarget, type ProgramTypePlugin } from "../plugin/sdk.js";
import {
  POD_FILTER_PIN,
  PROGRAM_PIN,
  gateCallsPinName,
  gateLinkNumber,
  gateProgramPinName,
  podLinkPinParts,
  assertContained,
  generationPinDir,
  linkPinName,
  listPinnedGenerations,
  mapPinName,
  programLinkPinName,
  programLinkPins,
  programPinName,
  isPodLinkPin,
  podLinkPinName,
  podOfLinkPin,
  type PinnedGeneration,
} from "./pin-layout.js";
import {
  ObjectRefusedError,
  capabilitiesToDrop,
  checkObject,
  enforcementKey,
  objectMapBytes,
  observeRewrite,
  pinningViolations,
  verdictModeOf,
  type LoadEnforcement,
} from "./enforcement.js";
import { formatVerifierRejection, scrubKernelAddresses } from "./verifier-report.js";
import { GATE_MAX_LEVEL, admitPod, createPodFilter, expelPod, loadPodGate, podsInFilter, type PodGate } from "./pod-gate.js";
import { createNetGateCalls, loadNetGate, netGateSlot, type NetGateSlot } from "./pod-net-gate.js";

export interface LoadRequest {
  ref: ResourceRef;
  spec: EbpfMapSpec;
  object: { path: string; hash: string };
  logger: Logger;
  /** Maps the resource's metrics read; each must exist in the object (default: `spec.map`). */
  requiredMaps?: readonly string[];
  /**
   * Checks the loaded maps before anything is attached: the caller plans its metrics there
   * (every metric's map exists, its types fit), once per load.
   */
  checkMaps?: (maps: ReadonlyMap<string, BpfMap>) => void;
  /** What a tenancy policy enforces for this resource (rules, verdict mode, privileges); see enforcement.ts. */
  enforcement?: LoadEnforcement;
  /**
   * Map memory the namespace's other resources hold on this node (their `mapBytes`), checked
   * with this object's against `enforcement.namespaceMapBytes`. The agent supplies it.
   */
  namespaceMapBytesInUse?: number;
}

/** One program of a loaded resource, attached where its spec entry says. */
export interface AttachedProgram {
  /** The C function (`spec.program`, `spec.programs[i].program`). */
  name: string;
  type: string;
  target: string;
  program: BpfProgram;
  attachments: Attachment[];
}

export interface LoadedProgram {
  ref: ResourceRef;
  loadKey: string;
  dir: string;
  /** True when the program was found pinned and adopted rather than loaded. */
  adopted: boolean;
  /** Every program of the resource, in spec order (one for the flat spec). */
  programs: AttachedProgram[];
  /** The first program (the only one of a flat spec). */
  program: BpfProgram;
  maps: Map<string, BpfMap>;
  /** Every attachment of every program, in spec order. */
  attachments: Attachment[];
  /** The memory estimate of the object's maps on this node (what a namespace budget counts). */
  mapBytes: number;
  /**
   * Pod scope (`spec.selector`): the programs with their plugins, attached per pod by
   * `attachPod`, and the links per pod UID (pinned `pod_<uid>_<program>_<n>`); absent node-wide.
   */
  podScope?: {
    planned: PreflightProgram[];
    pods: Map<string, PodAttachment>;
    /** Gate mode (tracing types): the selected pods' cgroup ids, which the gates in front of the programs read. */
    filter?: BpfMap;
    /** Gate mode with per-pod targets (`podScope.gateTargets`): each such program's gate by program index, attached per pod. */
    podGates?: Map<number, BpfProgram>;
    /** Their links by target (`<program index>_<key hash>`), each shared by every pod whose target has that key. */
    gateLinks?: Map<string, GateLink>;
    /** Network types (xdp, socket): each program's network gate (pod-net-gate.ts) by program index, one gate loaded per pod. */
    netGates?: Map<number, NetGate>;
  };
}

/** A network-attached program's gate: the program array holding the tenant's program, and how each pod's gate is loaded. */
export interface NetGate {
  slot: NetGateSlot;
  kernelType: string;
  expectedAttachType: string;
  calls: BpfMap;
}

/** A gate's link(s) at one per-pod target, pinned under the pod that holds it (`owner`). */
export interface GateLink {
  owner: string;
  attachments: Attachment[];
  pins: string[];
}

/** One pod's links of a pod-scoped resource. */
export interface PodAttachment {
  uid: string;
  /** The cgroup attached to, when this agent attached it (adopted links know only their pins). */
  path?: string;
  attachments: Attachment[];
  /** The cgroup ids the pod is attached to (cgroup links) or let through by (gate mode: the filter). */
  cgroupIds?: bigint[];
  /** Gate mode with per-pod targets: the gate links (`GateLink` ids) the pod's targets use. */
  gateLinks?: string[];
  /** Adopted with per-pod gate targets not known yet: the agent asks the plugin again (attachPod). */
  unresolved?: boolean;
  /** The pod's container cgroups when attached (per-pod gate targets are asked for again when they change). */
  containers?: string;
  /**
   * Adopted links of network programs (by program index), not yet checked against the pod: at
   * its first pod sync `attachPod` keeps them only if they sit on the pod's own interfaces, in
   * its namespace, and run a gate built for its cgroup id; otherwise it attaches anew.
   */
  unverified?: Map<number, Attachment[]>;
}

/** A program of the spec with its plugin and parsed (and resolved) target. */
export interface PreflightProgram {
  entry: ResourceProgram;
  plugin: ProgramTypePlugin;
  target: unknown;
}

const VERIFIER_TAIL_LINES = 20;

/**
 * What the kernel sees of a resource: equal keys mean an adoptable pinned generation. The
 * enforcement's verdict mode and privileges change the loaded programs, so they are part of it.
 */
export function loadKeyOf(
  spec: Pick<EbpfMapSpec, "type" | "target" | "program" | "programs" | "selector">,
  objectHash: string,
  enforcement?: LoadEnforcement,
): string {
  const programs = programsOf(spec);
  // One program hashes as the flat spec always did, so older pins stay adoptable.
  const parts: unknown[] =
    programs.length === 1
      ? [objectHash, programs[0]!.type, programs[0]!.target, programs[0]!.program]
      : [objectHash, ...programs.map((p) => [p.type, p.target, p.program])];
  // Without enforcement options the key is what it always was: pinned generations stay adoptable.
  if (enforcement !== undefined && (verdictModeOf(enforcement) !== "enforce" || enforcement.tracingPrivileges)) parts.push(enforcementKey(enforcement));
  // Pod scope attaches per pod, node scope to the target as written: a resource switching between
  // them is a new generation, never the running one kept (a node-wide attachment must not survive
  // as "pod-scoped"). Node-wide keys are unchanged, so their pins stay adoptable.
  if (spec.selector !== undefined) parts.push("pod-scope");
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 16);
}

export class ProgramLoader {
  constructor(
    private readonly pinRoot: string,
    private readonly registry: PluginRegistry,
    private readonly host: PluginHost,
    /** Told about every load and unload (the agent gives memory back after a burst of them). */
    private readonly loadActivity?: { noteWork(): void },
  ) {}

  /**
   * Checks, for every program of the spec, what can be checked without the compiled object: a
   * plugin handles the type, the target is valid and exists, the kernel supports the type.
   * Returns each program's plugin and target.
   */
  async preflight(spec: EbpfMapSpec): Promise<PreflightProgram[]> {
    const entries = programsOf(spec);
    refusePodScope(this.registry, spec);
    const out: PreflightProgram[] = [];
    for (const entry of entries) out.push(await this.preflightOne(entry, spec.selector !== undefined));
    return out;
  }

  private async preflightOne(entry: ResourceProgram, podScoped: boolean): Promise<PreflightProgram> {
    const { type } = entry;
    const parsed = await parseTarget(this.registry, entry);
    const { plugin } = parsed;
    let target = parsed.target;
    const support = await callPlugin(plugin, "detectSupport", () => plugin.detectSupport(type, this.host, target)).catch((error: unknown) => {
      // The kernel refused the probe itself: the agent lacks privileges, which is not the plugin's fault.
      if (error instanceof Error && error.cause instanceof LibbpfError && (error.cause.code === "EPERM" || error.cause.code === "EACCES")) {
        throw operatorError(
          "EOP_ERR_LOAD_FAILED",
          `cannot check ${type} support: the agent may not use bpf() (${error.cause.message}); run it as root or with CAP_BPF and CAP_PERFMON (docs/deploy.md)`,
          error.cause,
        );
      }
      throw error;
    });
    if (!support.supported) {
      const hint = support.hint ? ` (${support.hint})` : "";
      const where = entry.field === "spec" ? "" : ` (${programField(entry, "type")})`;
      throw operatorError("EOP_ERR_KERNEL_UNSUPPORTED", `program type "${type}"${where} is not supported by this kernel: ${support.reason}${hint}`);
    }
    if (podScoped) {
      const scope = plugin.podScope!;
      await callPlugin(plugin, "podScope.check", () => scope.check(type, target));
      // Attach mode: the target is relative to each pod, never resolved (nor attached) as written.
      // Gate mode: the agent's gate attaches at the target as written, so it is resolved as usual;
      // with per-pod targets (gateTargets) the target is relative to each pod, as in attach mode.
      if (!isGated(plugin) || perPodGate(plugin)) return { entry, plugin, target };
    }
    if (plugin.resolveTarget) {
      const resolve = plugin.resolveTarget.bind(plugin);
      target = await callPlugin(plugin, "resolveTarget", () => resolve(type, target, this.host));
    }
    return { entry, plugin, target };
  }

  async load(request: LoadRequest): Promise<LoadedProgram> {
    const { ref, spec } = request;
    const programs = await this.preflight(spec);
    const loadKey = loadKeyOf(spec, request.object.hash, request.enforcement);
    const dir = generationPinDir(this.pinRoot, ref, loadKey);
    const pinned = (await listPinnedGenerations(this.pinRoot)).find((g) => g.dir === dir);
    try {
      if (pinned?.complete) {
        request.logger.info({ loadKey, dir }, "adopting pinned program");
        try {
          return await this.adopt(request, programs, loadKey, dir);
        } catch (error) {
          if (!(error instanceof StaleGenerationError)) throw error;
          request.logger.warn({ loadKey, dir, reason: error.message }, "pinned generation predates this agent's layout: loaded again");
        }
      }
      if (pinned) await removeGeneration(pinned, this.pinRoot); // an earlier run died half-way through pinning, or it is stale
      return await this.loadFresh(request, programs, loadKey, dir);
    } finally {
      this.loadActivity?.noteWork();
    }
  }

  /**
   * Checks a running resource's object against its (possibly changed) rules without reloading
   * it: adoption and the agent's "same program, new spec" path call this. `loaded` gives every
   * program's kernel type. Throws ObjectRefusedError.
   */
  async recheck(request: LoadRequest, loaded: Pick<LoadedProgram, "programs">): Promise<void> {
    if (!request.enforcement?.rules && request.enforcement?.namespaceMapBytes === undefined) return;
    const label = `EbpfMap "${request.ref.namespace}/${request.ref.name}"`;
    const attached = loaded.programs.map((p) => ({ name: p.name, type: p.program.info().type }));
    this.check(request, inspect(await readObject(request.object.path, label), request.spec.code, label), attached, label);
  }

  /**
   * Checks an inspected object against the request's enforcement, every program of the resource
   * with the kernel type (and expected attach type) it loads as; returns its maps' memory estimate.
   */
  private check(request: LoadRequest, report: ObjectReport, attached: CheckedProgram[], label: string): number {
    const cpus = possibleCpus();
    checkObject(report, request.enforcement, { attached, possibleCpus: cpus }, label, request.namespaceMapBytesInUse ?? 0);
    return objectMapBytes(report, cpus);
  }

  /** Detaches and unpins a resource's generation; `keepPins` only closes our handles (shutdown). */
  async unload(loaded: LoadedProgram, options: { keepPins?: boolean } = {}): Promise<void> {
    this.loadActivity?.noteWork();
    for (const attachment of loaded.attachments) {
      if (attachment.kind === "link") {
        if (!options.keepPins) ignoreErrors(() => attachment.link.detach());
        attachment.link.close();
      } else {
        ignoreErrors(() => attachment.close());
      }
    }
    for (const pod of loaded.podScope?.pods.values() ?? []) closeAttachments(pod.attachments, !options.keepPins);
    for (const link of loaded.podScope?.gateLinks?.values() ?? []) closeAttachments(link.attachments, !options.keepPins);
    for (const gate of loaded.podScope?.podGates?.values() ?? []) gate.close();
    for (const gate of loaded.podScope?.netGates?.values() ?? []) gate.calls.close();
    loaded.podScope?.filter?.close();
    for (const map of loaded.maps.values()) map.close();
    for (const p of loaded.programs) p.program.close();
    if (!options.keepPins) await removeDirAndEmptyParents(loaded.dir, this.pinRoot);
  }

  /**
   * Pod scope: attaches every program of a pod-scoped resource to one pod's cgroup (the plugin's
   * `podScope.target`) and pins the links in the generation directory, so a restarted agent
   * adopts them. All or nothing for the pod. Refuses the root cgroup whatever the plugin says.
   */
  async attachPod(
    loaded: LoadedProgram,
    pod: PodCgroupTarget & { uid: string; cgroupId?: bigint; level?: number; containers?: string },
  ): Promise<PodAttachment> {
    const scope = loaded.podScope;
    if (!scope) throw operatorError("EOP_ERR_POD_SCOPE_UNSUPPORTED", `EbpfMap "${loaded.ref.namespace}/${loaded.ref.name}" is not pod-scoped`);
    if (pod.path === "/" || pod.path === "") throw operatorError("EOP_ERR_ATTACH_FAILED", `pod ${pod.namespace}/${pod.pod}: refusing the root cgroup`);
    const label = `EbpfMap "${loaded.ref.namespace}/${loaded.ref.name}"`;
    const made: Attachment[] = [];
    // Gate links this pod's targets use, and those this call attached (undone if the pod fails).
    const usedLinks: string[] = [];
    const newLinks: string[] = [];
    let known = scope.pods.get(pod.uid);
    // Adopted network links: kept (their programs not attached again) only if still right for the pod.
    const kept = new Set<number>();
    if (known?.unverified) {
      for (const [i, attachments] of known.unverified) if (await this.podLinksWhereWanted(loaded, i, attachments, pod, label)) kept.add(i);
      if (kept.size < known.unverified.size) {
        this.host.logger.warn(
          { resource: `${loaded.ref.namespace}/${loaded.ref.name}`, pod: `${pod.namespace}/${pod.pod}`, pinned: known.attachments.map((a) => a.description) },
          "adopted pod links are not on the pod's interfaces or run a gate of another cgroup id: detached and attached anew",
        );
        kept.clear();
        closeAttachments(known.attachments, true);
        await unlinkPodPins(loaded.dir, pod.uid, this.pinRoot);
        scope.pods.delete(pod.uid);
        known = undefined;
      }
    }
    try {
      for (const [i, { entry, plugin, target }] of scope.planned.entries()) {
        if (kept.has(i)) continue;
        if (perPodGate(plugin)) await this.attachPodGate(loaded, i, pod, usedLinks, newLinks, label);
        if (isGated(plugin)) continue; // the filter below lets the pod's tasks through its gate
        // A type that attaches to the pod's interfaces gets the pod's own namespace or nothing.
        if (plugin.podScope!.network === true && pod.netns === undefined) {
          throw operatorError(
            "EOP_ERR_ATTACH_FAILED",
            `attach program "${entry.program}" of ${label} to pod ${pod.namespace}/${pod.pod}: the pod's network namespace is unknown`,
          );
        }
        const podTarget = plugin.podScope!.target!(entry.type, target, pod);
        const part = loaded.programs[i]!;
        // Network types: the pod's own gate, which tells the program the pod's cgroup id, is
        // what is attached (pod-net-gate.ts); the program runs only through its tail call.
        const gate = scope.netGates?.get(i) ? this.loadPodNetGate(loaded, i, pod, label) : undefined;
        let attachments: Attachment[];
        try {
          attachments = await callPlugin(
            plugin,
            "attach",
            () => plugin.attach({ program: gate ?? part.program, programType: entry.type, target: podTarget, resource: loaded.ref, host: this.host }),
            "EOP_ERR_ATTACH_FAILED",
            `attach ${gate ? "the pod-scope network gate of " : ""}program "${entry.program}" of ${label} to pod ${pod.namespace}/${pod.pod} (${pod.netns ? `network namespace ${pod.netns.inode}` : `cgroup ${pod.path}`})`,
          );
        } finally {
          gate?.close(); // its links and sockets hold it
        }
        if (gate) for (const attachment of attachments) attachment.description = `${attachment.description} (gate: pod cgroup id ${pod.cgroupId})`;
        made.push(...attachments);
        await assertContained(this.pinRoot, loaded.dir);
        attachments.forEach((attachment, n) => {
          if (attachment.kind === "link") attachment.link.pin(join(loaded.dir, podLinkPinName(pod.uid, i, n)));
        });
      }
      if (scope.filter) {
        if (pod.cgroupId === undefined)
          throw operatorError("EOP_ERR_ATTACH_FAILED", `pod ${pod.namespace}/${pod.pod}: no cgroup id to let through the gate of ${label}`);
        if (pod.level !== undefined && pod.level > GATE_MAX_LEVEL) {
          throw operatorError(
            "EOP_ERR_ATTACH_FAILED",
            `pod ${pod.namespace}/${pod.pod}: its cgroup ${pod.path} is ${pod.level} levels deep, and the pod-scope gate of ${label} walks ${GATE_MAX_LEVEL}`,
          );
        }
        const filter = scope.filter;
        wrap("EOP_ERR_ATTACH_FAILED", `let pod ${pod.namespace}/${pod.pod} (cgroup ${pod.path}) through the gate of ${label}`, () =>
          admitPod(filter, pod.uid, pod.cgroupId!),
        );
      }
    } catch (error) {
      closeAttachments(made, true);
      for (const id of newLinks) {
        const link = scope.gateLinks!.get(id)!;
        closeAttachments(link.attachments, true);
        for (const pin of link.pins) await rm(pin, { force: true });
        scope.gateLinks!.delete(id);
      }
      // An adopted pod asked again keeps what it holds (retried at the next sync).
      if (!known) await unlinkPodPins(loaded.dir, pod.uid, this.pinRoot);
      throw error;
    }
    // The cgroup's id (gate filter, cgroup links): a cgroup made anew under the same pod (a
    // restarted container, with selector.container) is then attached again.
    // A network gate holds the pod's cgroup id as a constant: a pod whose cgroup was made anew is attached again.
    const network = scope.planned.some((p) => p.plugin.podScope?.network === true);
    const attached: PodAttachment = {
      uid: pod.uid,
      path: pod.path,
      attachments: [...(known?.attachments ?? []), ...made],
      ...(pod.cgroupId !== undefined && (scope.filter || !network || (scope.netGates?.size ?? 0) > 0) ? { cgroupIds: [pod.cgroupId] } : {}),
      ...(scope.podGates ? { gateLinks: usedLinks } : {}),
      ...(pod.containers !== undefined ? { containers: pod.containers } : {}),
    };
    scope.pods.set(pod.uid, attached);
    // Asked again (adopted, or its containers changed): links of its old targets it no longer uses go.
    if (known && scope.gateLinks) {
      await this.releaseGateLinks(loaded, pod.uid, new Set([...scope.gateLinks.keys()].filter((id) => !usedLinks.includes(id))));
    }
    return attached;
  }

  /**
   * Whether program `i`'s adopted links of a pod are where attaching it now would put them: the
   * plugin's `adopted` (XDP: the pod's own interfaces, in its namespace) and, behind a network
   * gate, each link's program is a gate for the pod's cgroup id now (the same instructions as a
   * gate loaded for it now: the kernel's tag, which leaves out the program array's fd). A pod
   * whose cgroup was made anew while no agent ran would otherwise keep a gate naming the old id.
   */
  private async podLinksWhereWanted(
    loaded: LoadedProgram,
    i: number,
    attachments: readonly Attachment[],
    pod: PodCgroupTarget & { cgroupId?: bigint },
    label: string,
  ): Promise<boolean> {
    const planned = loaded.podScope!.planned[i]!;
    const { entry, plugin, target } = planned;
    if (pod.netns === undefined) return false;
    if (!(await this.linksWhereWanted(attachments, planned, plugin.podScope!.target!(entry.type, target, pod)))) return false;
    if (!loaded.podScope!.netGates?.has(i)) return true;
    const gate = this.loadPodNetGate(loaded, i, pod, label);
    try {
      const tag = gate.info().tag;
      return attachments.every((a) => {
        if (a.kind !== "link") return false;
        try {
          using running = BpfProgram.fromId(a.link.info().programId);
          return running.info().tag === tag;
        } catch {
          return false; // gone, or not readable (no CAP_SYS_ADMIN): attached anew
        }
      });
    } finally {
      gate.close();
    }
  }

  /** Loads program `i`'s network gate for one pod: the pod's cgroup id baked in (pod-net-gate.ts). */
  private loadPodNetGate(loaded: LoadedProgram, i: number, pod: PodCgroupTarget & { cgroupId?: bigint }, label: string): BpfProgram {
    const { slot, kernelType, expectedAttachType, calls } = loaded.podScope!.netGates!.get(i)!;
    const program = loaded.podScope!.planned[i]!.entry.program;
    if (pod.cgroupId === undefined || pod.cgroupId === 0n)
      throw operatorError("EOP_ERR_ATTACH_FAILED", `pod ${pod.namespace}/${pod.pod}: no cgroup id to identify the pod to program "${program}" of ${label}`);
    return wrap("EOP_ERR_ATTACH_FAILED", `load the pod-scope network gate of program "${program}" of ${label} for pod ${pod.namespace}/${pod.pod}`, () =>
      loadNetGate(slot, kernelType, expectedAttachType, pod.cgroupId!, calls),
    );
  }

  /**
   * Gate mode with per-pod targets: attaches program `i`'s gate at each of the pod's targets
   * (`podScope.gateTargets`) not attached yet for another pod, pinned under this pod. Never
   * attaches anything the plugin did not find in the pod; a pod without a target fails.
   */
  private async attachPodGate(
    loaded: LoadedProgram,
    i: number,
    pod: PodCgroupTarget & { uid: string },
    used: string[],
    made: string[],
    label: string,
  ): Promise<void> {
    const scope = loaded.podScope!;
    const { entry, plugin, target } = scope.planned[i]!;
    const gate = scope.podGates!.get(i)!;
    const where = `program "${entry.program}" of ${label} in pod ${pod.namespace}/${pod.pod}`;
    const gateTargets = plugin.podScope!.gateTargets!.bind(plugin.podScope);
    const targets = await callPlugin(
      plugin,
      "podScope.gateTargets",
      () => gateTargets(entry.type, target, pod),
      "EOP_ERR_ATTACH_FAILED",
      `find the targets of ${where}`,
    );
    try {
      if (targets.length === 0)
        throw new PluginTargetError("EOP_ERR_TARGET_NOT_FOUND", `${entry.type} "${entry.target}": nothing to attach to in pod ${pod.namespace}/${pod.pod}`);
      for (const found of targets) {
        const id = `${i}_${Math.floor(gateLinkNumber(found.key, 0) / 16)}`;
        if (!used.includes(id)) used.push(id);
        if (scope.gateLinks!.has(id)) continue; // another selected pod's target is the same: one link for both
        const attachments = await callPlugin(
          plugin,
          "attach",
          () => plugin.attach({ program: gate, programType: entry.type, target: found.target, resource: loaded.ref, host: this.host }),
          "EOP_ERR_ATTACH_FAILED",
          `attach the pod-scope gate of ${where}`,
        );
        const link: GateLink = { owner: pod.uid, attachments, pins: [] };
        scope.gateLinks!.set(id, link);
        made.push(id);
        for (const attachment of attachments) attachment.description = `${attachment.description} (gate: the selected pods' tasks only)`;
        await assertContained(this.pinRoot, loaded.dir);
        for (const [n, attachment] of attachments.entries()) {
          if (attachment.kind !== "link") continue;
          const pin = join(loaded.dir, podLinkPinName(pod.uid, i, gateLinkNumber(found.key, n)));
          attachment.link.pin(pin);
          link.pins.push(pin);
        }
      }
    } finally {
      for (const found of targets) await Promise.resolve(found.release?.()).catch(() => undefined);
    }
  }

  /** Pod scope: detaches a pod's links and removes their pins (the pod is gone or no longer selected). */
  async detachPod(loaded: LoadedProgram, uid: string): Promise<void> {
    const pod = loaded.podScope?.pods.get(uid);
    if (!pod) return;
    closeAttachments(pod.attachments, true);
    await this.releaseGateLinks(loaded, uid);
    const filter = loaded.podScope!.filter;
    if (filter)
      wrap("EOP_ERR_ATTACH_FAILED", `remove pod ${uid} from the gate of EbpfMap "${loaded.ref.namespace}/${loaded.ref.name}"`, () => expelPod(filter, uid));
    loaded.podScope!.pods.delete(uid);
    await unlinkPodPins(loaded.dir, uid, this.pinRoot);
  }

  /**
   * The gate links a pod holds (`only` those, when given) and leaves: each handed to another
   * selected pod whose targets use it (pinned again under it), or detached when no pod does.
   */
  private async releaseGateLinks(loaded: LoadedProgram, uid: string, only?: ReadonlySet<string>): Promise<void> {
    const scope = loaded.podScope!;
    for (const [id, link] of [...(scope.gateLinks ?? [])]) {
      if (link.owner !== uid || (only && !only.has(id))) continue;
      const heir = [...scope.pods.values()].find((p) => p.uid !== uid && p.gateLinks?.includes(id));
      const old = link.pins;
      await assertContained(this.pinRoot, loaded.dir);
      if (!heir) {
        closeAttachments(link.attachments, true);
        scope.gateLinks!.delete(id);
      } else {
        link.pins = link.pins.map((pin, n) => {
          const parts = podLinkPinParts(pin.slice(pin.lastIndexOf("/") + 1))!;
          const moved = join(loaded.dir, podLinkPinName(heir.uid, parts.program, parts.n));
          const attachment = link.attachments.filter((a) => a.kind === "link")[n];
          if (attachment?.kind === "link") wrap("EOP_ERR_ATTACH_FAILED", `pin the gate link ${id} of pod ${heir.uid}`, () => attachment.link.pin(moved));
          return moved;
        });
        link.owner = heir.uid;
      }
      for (const pin of old) await rm(pin, { force: true });
    }
  }

  /** Pinned generations under the root, for garbage collection of what no resource owns. */
  listPinned(): Promise<PinnedGeneration[]> {
    return listPinnedGenerations(this.pinRoot);
  }

  /** Detaches and removes a pinned generation that no loaded resource holds. */
  async removePinned(generation: PinnedGeneration): Promise<void> {
    await removeGeneration(generation, this.pinRoot);
    await removeDirAndEmptyParents(generation.dir, this.pinRoot);
  }

  private async loadFresh(request: LoadRequest, planned: PreflightProgram[], loadKey: string, dir: string): Promise<LoadedProgram> {
    const { ref, spec } = request;
    const label = `EbpfMap "${ref.namespace}/${ref.name}"`;
    const cleanup: (() => void)[] = [];
    const maps = new Map<string, BpfMap>();
    const attached: AttachedProgram[] = [];
    let object: BpfObject | undefined;
    try {
      // One read: the bytes inspected are the bytes loaded.
      const bytes = await readObject(request.object.path, label);
      const report = inspect(bytes, spec.code, label);
      const pinning = pinningViolations(report);
      if (pinning.length > 0) throw new ObjectRefusedError(label, pinning);
      object = wrap("EOP_ERR_LOAD_FAILED", `open the compiled object of ${label}`, () =>
        BpfObject.open({ buffer: bytes, name: objectName(request.object.path) }),
      );
      const opened = object;
      const programs = opened.programs();
      checkProgramsPresent(programs, planned, label);
      const mapSpecs = opened.maps();
      // Whether the metrics' maps exist is checked once, with their types, by checkMaps.
      containPinning(opened, mapSpecs, dir, request.logger);
      // Only the named programs are loaded: others in the file may be of other types.
      const wanted = new Set(planned.map((p) => p.entry.program));
      for (const other of programs) if (!wanted.has(other.name)) opened.setAutoload(other.name, false);
      for (const { entry, plugin, target } of planned) {
        await callPlugin(plugin, "prepare", () => plugin.prepare({ object: opened, programName: entry.program, programType: entry.type, target }));
      }
      // Every program as the kernel will see it, after the plugins' prepare: the rules, the
      // observe rewrite and the capabilities follow each one's own type.
      const kernelPrograms = planned.map(({ entry }) => opened.programs().find((p) => p.name === entry.program)!);
      const { enforcement } = request;
      const mapBytes = this.check(
        request,
        report,
        kernelPrograms.map((p) => ({ name: p.name, type: p.type, ...(p.expectedAttachType !== undefined ? { attachType: p.expectedAttachType } : {}) })),
        label,
      );
      if (verdictModeOf(enforcement) === "observe") {
        for (const p of kernelPrograms) {
          const rewritten = observeRewrite(report, p.name, p.type, opened.programInstructions(p.name), label);
          if (rewritten) {
            opened.setProgramInstructions(p.name, rewritten.code);
            request.logger.info({ program: p.name, exits: rewritten.exits }, "observe mode: every exit of the program returns the pass verdict");
          }
        }
      }
      const dropCapabilities = capabilitiesToDrop(
        kernelPrograms.map((p) => p.type),
        enforcement,
      );
      try {
        opened.load({ dropCapabilities });
      } catch (error) {
        const failed = error instanceof BpfLoadError && error.program ? error.program : planned.map((p) => p.entry.program).join(", ");
        if (error instanceof BpfLoadError && (error.verifierLog !== "" || error.program !== undefined)) {
          request.logger.debug({ verifierLog: error.verifierLog }, "verifier log");
          const rejection = formatVerifierRejection(error.verifierLog, { tailLines: VERIFIER_TAIL_LINES, sourceLines: spec.code.split("\n") });
          throw operatorError(
            "EOP_ERR_LOAD_VERIFIER",
            `load program "${failed}" for ${label}: the verifier rejected it: ${rejection}`,
            new Error(scrubKernelAddresses(error.message)),
          );
        }
        // libbpf's own log (its last line is in the message) can quote the verifier: scrub it too.
        throw operatorError(
          "EOP_ERR_LOAD_FAILED",
          `load program "${failed}" for ${label}`,
          error instanceof Error ? new Error(scrubKernelAddresses(error.message)) : error,
        );
      }
      request.logger.info(
        { programs: kernelPrograms.map((p) => ({ program: p.name, type: p.type })), droppedCapabilities: dropCapabilities },
        "programs verified",
      );
      for (const { entry } of planned) {
        const program = opened.program(entry.program);
        cleanup.push(() => program.close());
        attached.push({ name: entry.program, type: entry.type, target: entry.target, program, attachments: [] });
      }
      for (const mapSpec of mapSpecs) {
        // libbpf's internal maps for global variables (".rodata", ".bss", ".data", ".kconfig")
        // are left alone: the program holds them itself, nothing exports them, and bpffs refuses
        // a '.' in a pin name, so pinning them would fail the whole load.
        if (isInternalMap(mapSpec.name)) continue;
        const map = opened.map(mapSpec.name);
        maps.set(mapSpec.name, map);
        cleanup.push(() => map.close());
      }
      request.checkMaps?.(maps);
      // Pod scope, gate mode: the pods' filter, and a gate in front of each gated program (below).
      const filter =
        podScoped(spec) && planned.some((p) => isGated(p.plugin))
          ? wrap("EOP_ERR_LOAD_FAILED", `create the pod filter of ${label}`, createPodFilter)
          : undefined;
      if (filter) cleanup.push(() => filter.close());
      const gates: { program: string; gate: PodGate; perPod: boolean }[] = [];
      const podGates = new Map<number, BpfProgram>();
      const netGates = new Map<number, NetGate>();
      // All or nothing: a program that fails to attach detaches the ones before it (cleanup).
      // Pod scope attaches per pod afterwards (attachPod), never to the target as written; a
      // gated program is never attached at all: its gate is, at the target as written.
      for (const [i, { entry, plugin, target }] of planned.entries()) {
        if (podScoped(spec) && !isGated(plugin)) {
          const gate = plugin.podScope?.network === true ? this.createNetGate(attached[i]!.program, kernelPrograms[i]!, entry.program, label) : undefined;
          if (gate) {
            cleanup.push(() => gate.calls.close());
            netGates.set(i, gate);
          }
          continue;
        }
        const part = attached[i]!;
        let program = part.program;
        if (filter) {
          const scope = plugin.podScope!;
          if (scope.verify) {
            const verify = scope.verify.bind(scope);
            await callPlugin(
              plugin,
              "podScope.verify",
              () => verify({ program: part.program, programType: entry.type, target, resource: ref, host: this.host }),
              "EOP_ERR_ATTACH_FAILED",
              `program "${entry.program}" of ${label}: the kernel refuses it at ${entry.type} "${entry.target}" (checked as if attached, without running it)`,
            ).catch((error: unknown) => {
              throw attachRefusal(error, entry, label) ?? error;
            });
          }
          const kernelType = kernelPrograms[i]!;
          const gate = wrap("EOP_ERR_LOAD_FAILED", `load the pod-scope gate of program "${entry.program}" of ${label}`, () =>
            loadPodGate(part.program, kernelType.type, kernelType.expectedAttachType, filter),
          );
          cleanup.push(() => (gate.program.close(), gate.calls.close()));
          gates.push({ program: entry.program, gate, perPod: perPodGate(plugin) });
          program = gate.program;
          if (perPodGate(plugin)) {
            podGates.set(i, gate.program); // attached at each pod's targets (attachPod)
            continue;
          }
        }
        const made = await callPlugin(
          plugin,
          "attach",
          () => plugin.attach({ program, programType: entry.type, target, resource: ref, host: this.host }),
          "EOP_ERR_ATTACH_FAILED",
          `attach ${filter ? "the pod-scope gate of " : ""}program "${entry.program}" of ${label} to ${entry.type} "${entry.target}"`,
        ).catch((error: unknown) => {
          // The gate is the agent's own program: a refusal of it is no fault of the spec.
          throw (filter ? undefined : attachRefusal(error, entry, label)) ?? error;
        });
        if (filter) for (const attachment of made) attachment.description = `${attachment.description} (gate: the selected pods' tasks only)`;
        part.attachments.push(...made);
        for (const attachment of made) {
          cleanup.push(() => (attachment.kind === "link" ? (ignoreErrors(() => attachment.link.detach()), attachment.link.close()) : attachment.close()));
        }
      }
      await this.pinAll(dir, maps, attached, label, filter, gates, netGates);
      // The gate's link holds the gate, the gate its program array, whose pin keeps it filled.
      // A gate attached per pod stays open (and pinned) for the pods to come.
      for (const { gate, perPod } of gates) {
        if (!perPod) gate.program.close();
        gate.calls.close();
      }
      opened.close();
      const loaded = assemble(ref, loadKey, dir, false, attached, maps, mapBytes);
      if (podScoped(spec)) {
        loaded.podScope = {
          planned,
          pods: new Map(),
          ...(filter ? { filter } : {}),
          ...(podGates.size > 0 ? { podGates, gateLinks: new Map() } : {}),
          ...(netGates.size > 0 ? { netGates } : {}),
        };
      }
      request.logger.info(
        {
          loadKey,
          dir,
          programs: attached.map((p) => ({ program: p.name, id: p.program.info().id })),
          attachments: loaded.attachments.map((a) => a.description),
        },
        "program loaded and attached",
      );
      return loaded;
    } catch (error) {
      for (const undo of cleanup.reverse()) ignoreErrors(undo);
      object?.close();
      await assertContained(this.pinRoot, dir)
        .then(() => rm(dir, { recursive: true, force: true }))
        .catch(() => undefined);
      throw error;
    }
  }

  /**
   * Network types in pod scope: the program array the pods' gates tail-call the program through
   * (holding it), after one gate is loaded as a check, so a program the kernel will not let a
   * gate call (an XDP program with frags, say) fails the load, not each pod. Undefined for a
   * kernel type with no network gate (its program is attached per pod itself, without a pod id).
   */
  private createNetGate(program: BpfProgram, kernel: { type: string; expectedAttachType: string }, name: string, label: string): NetGate | undefined {
    const slot = netGateSlot(kernel.type);
    if (slot === undefined) return undefined;
    const calls = wrap("EOP_ERR_LOAD_FAILED", `create the pod-scope network gate's program array for program "${name}" of ${label}`, () =>
      createNetGateCalls(program),
    );
    try {
      wrap("EOP_ERR_LOAD_FAILED", `load the pod-scope network gate of program "${name}" of ${label} (a ${kernel.type} program that tail-calls it)`, () =>
        loadNetGate(slot, kernel.type, kernel.expectedAttachType, 1n, calls).close(),
      );
    } catch (error) {
      calls.close();
      throw error;
    }
    return { slot, kernelType: kernel.type, expectedAttachType: kernel.expectedAttachType, calls };
  }

  private async pinAll(
    dir: string,
    maps: Map<string, BpfMap>,
    programs: AttachedProgram[],
    label: string,
    filter?: BpfMap,
    gates: readonly { program: string; gate: PodGate; perPod?: boolean }[] = [],
    netGates: ReadonlyMap<number, NetGate> = new Map(),
  ): Promise<void> {
    try {
      await assertContained(this.pinRoot, dir);
      await mkdir(dir, { recursive: true });
      await assertContained(this.pinRoot, dir);
      for (const [name, map] of maps) map.pin(join(dir, mapPinName(name)));
      filter?.pin(join(dir, POD_FILTER_PIN));
      // The kernel empties a program array when its last user reference (fd or pin) goes.
      for (const { program, gate, perPod } of gates) {
        gate.calls.pin(join(dir, gateCallsPinName(programs.length === 1 ? undefined : program)));
        if (perPod) gate.program.pin(join(dir, gateProgramPinName(programs.length === 1 ? undefined : program)));
      }
      // Network gates: the program array every pod's gate tail-calls through (a gate adopted with
      // its pinned link keeps calling the program it holds; gates loaded later reopen it).
      for (const [i, { calls }] of netGates) calls.pin(join(dir, gateCallsPinName(programs.length === 1 ? undefined : programs[i]!.name)));
      const single = programs.length === 1;
      for (const part of programs) {
        part.attachments.forEach((attachment, index) => {
          if (attachment.kind === "link") attachment.link.pin(join(dir, single ? linkPinName(index) : programLinkPinName(part.name, index)));
        });
        if (!single) part.program.pin(join(dir, programPinName(part.name)));
      }
      programs[0]!.program.pin(join(dir, PROGRAM_PIN)); // last: marks the generation complete
    } catch (error) {
      throw operatorError("EOP_ERR_PIN_FAILED", `pin the objects of ${label} under ${dir}`, error);
    }
  }

  private async adopt(request: LoadRequest, planned: PreflightProgram[], loadKey: string, dir: string): Promise<LoadedProgram> {
    const { ref, spec } = request;
    const label = `EbpfMap "${ref.namespace}/${ref.name}"`;
    const maps = new Map<string, BpfMap>();
    const attached: AttachedProgram[] = [];
    let podGates: Map<number, BpfProgram> | undefined;
    let gateLinks: Map<string, GateLink> | undefined;
    let netGates: Map<number, NetGate> | undefined;
    try {
      await assertContained(this.pinRoot, dir);
      const entries = (await readdir(dir)).sort();
      for (const entry of entries) await assertContained(this.pinRoot, join(dir, entry), "file");
      const single = planned.length === 1;
      const linkPinsOf: string[][] = [];
      for (const { entry } of planned) {
        const program = BpfProgram.openPinned(join(dir, single ? PROGRAM_PIN : programPinName(entry.program)));
        const part: AttachedProgram = { name: entry.program, type: entry.type, target: entry.target, program, attachments: [] };
        attached.push(part);
        const linkPins = single ? entries.filter((e) => e.startsWith("link_")) : programLinkPins(entries, entry.program);
        linkPinsOf.push(linkPins);
        for (const pin of linkPins) part.attachments.push({ kind: "link", link: BpfLink.openPinned(join(dir, pin)), description: `pinned ${pin}` });
      }
      // The rules may have changed since this generation was loaded: check the object again.
      const bytes = await readObject(request.object.path, label);
      const report = inspect(bytes, spec.code, label);
      const mapBytes = this.check(
        request,
        report,
        attached.map((p) => ({ name: p.name, type: p.program.info().type })),
        label,
      );
      for (const entry of entries) {
        if (entry.startsWith("map_")) maps.set(entry.slice("map_".length), BpfMap.openPinned(join(dir, entry)));
      }
      // The maps' key and value types from their own object (the generation is keyed by its
      // hash): reading their kernel BTF by id would need CAP_SYS_ADMIN (BpfMap.useDeclaredTypes).
      declareMapTypes(maps, bytes, request.object.path);
      const missing = requiredMaps(request).find((name) => !maps.has(name));
      if (missing !== undefined) throw operatorError("EOP_ERR_PIN_FAILED", `pinned generation ${dir} of ${label} lacks map "${missing}"`);
      request.checkMaps?.(maps);
      // Gate links at per-pod targets are adopted by target (the pin's number), not as the pod's own.
      const perPodPrograms = new Set(planned.flatMap((p, i) => (perPodGate(p.plugin) ? [i] : [])));
      const isGateLinkPin = (entry: string) => perPodPrograms.has(podLinkPinParts(entry)?.program ?? -1);
      const podLinks = podScoped(spec)
        ? adoptPodLinks(
            dir,
            entries.filter((e) => !isGateLinkPin(e)),
            new Set(planned.flatMap((p, i) => (p.plugin.podScope?.network === true ? [i] : []))),
          )
        : undefined;
      let filter: BpfMap | undefined;
      if (podLinks && planned.some((p) => isGated(p.plugin))) {
        // A gated program without its gate's link would simply not run; a generation pinned
        // half-way is loaded again instead. A gate attached per pod is pinned itself instead.
        const ungated = planned.find((p, i) =>
          perPodGate(p.plugin)
            ? !entries.includes(gateProgramPinName(planned.length === 1 ? undefined : p.entry.program))
            : isGated(p.plugin) && attached[i]!.attachments.length === 0,
        );
        const callsMissing = planned.find((p) => isGated(p.plugin) && !entries.includes(gateCallsPinName(planned.length === 1 ? undefined : p.entry.program)));
        if (ungated || callsMissing || !entries.includes(POD_FILTER_PIN)) {
          throw operatorError(
            "EOP_ERR_PIN_FAILED",
            `pinned generation ${dir} of ${label} lacks the pod-scope gate of program "${(ungated ?? callsMissing ?? planned[0]!).entry.program}"`,
          );
        }
        filter = BpfMap.openPinned(join(dir, POD_FILTER_PIN));
        maps.set(POD_FILTER_PIN, filter); // closed with the maps if adoption fails below; taken out again after
        for (const [uid, cgroupIds] of podsInFilter(filter)) {
          const pod = podLinks.get(uid) ?? { uid, attachments: [] };
          podLinks.set(uid, { ...pod, cgroupIds });
        }
        maps.delete(POD_FILTER_PIN);
      }
      if (podLinks && perPodPrograms.size > 0) {
        podGates = new Map();
        for (const i of perPodPrograms) {
          podGates.set(i, BpfProgram.openPinned(join(dir, gateProgramPinName(single ? undefined : planned[i]!.entry.program))));
        }
        gateLinks = new Map();
        for (const entry of entries.filter(isGateLinkPin)) {
          const { uid, program, n } = podLinkPinParts(entry)!;
          const id = `${program}_${Math.floor(n / 16)}`;
          const link = gateLinks.get(id) ?? { owner: uid, attachments: [], pins: [] };
          link.attachments.push({ kind: "link", link: BpfLink.openPinned(join(dir, entry)), description: `pinned ${entry}` });
          link.pins.push(join(dir, entry));
          gateLinks.set(id, link);
          if (!podLinks.has(uid)) podLinks.set(uid, { uid, attachments: [] });
        }
        // Which pods' targets use which links is asked of the plugin again at the first pod sync.
        for (const pod of podLinks.values()) pod.unresolved = true;
      }
      if (podLinks && planned.some((p) => p.plugin.podScope?.network === true)) {
        // Network gates: the program array every gate of the generation calls through. The pods'
        // pinned links keep their gates; pods attached from now on get gates calling it too.
        netGates = new Map();
        const kernelPrograms = await preparedPrograms(bytes, request.object.path, planned);
        for (const [i, { entry, plugin }] of planned.entries()) {
          const kernel = kernelPrograms[i]!;
          const slot = plugin.podScope?.network === true ? netGateSlot(kernel.type) : undefined;
          if (slot === undefined) continue;
          const pin = gateCallsPinName(single ? undefined : entry.program);
          // Pinned by an agent before network gates: its pods' links run the program without a
          // pod id, so the generation is loaded again rather than half adopted.
          if (!entries.includes(pin))
            throw new StaleGenerationError(`pinned generation ${dir} of ${label} lacks the pod-scope network gate of program "${entry.program}"`);
          netGates.set(i, { slot, kernelType: kernel.type, expectedAttachType: kernel.expectedAttachType, calls: BpfMap.openPinned(join(dir, pin)) });
        }
      }
      for (const [i, { entry, plugin, target }] of podLinks ? [] : planned.entries()) {
        const part = attached[i]!;
        if (part.attachments.length > 0 && (await this.linksWhereWanted(part.attachments, planned[i]!, target))) continue;
        let detached = false;
        if (part.attachments.length > 0) {
          // Pinned links the target no longer names (an XDP link on another interface than the
          // spec's, say): detached, and the program attached where the spec says.
          request.logger.warn(
            { loadKey, program: entry.program, pinned: part.attachments.map((a) => a.description) },
            "pinned links are not where the spec attaches: detached and attached anew",
          );
          closeAttachments(part.attachments, true);
          part.attachments = [];
          for (const pin of linkPinsOf[i]!) await rm(join(dir, pin), { force: true });
          detached = true;
        }
        // Attachments that cannot be pinned (socket filters held by a socket): attach again.
        const reattach = (): Promise<Attachment[]> =>
          callPlugin(
            plugin,
            "attach",
            () => plugin.attach({ program: part.program, programType: entry.type, target, resource: ref, host: this.host }),
            "EOP_ERR_ATTACH_FAILED",
            `re-attach program "${entry.program}" of ${label}`,
          );
        const attachments = detached ? await whileReleasing(reattach) : await reattach();
        part.attachments.push(...attachments);
        // Links are pinned as at a load, so the next agent adopts them.
        await assertContained(this.pinRoot, dir);
        attachments.forEach((attachment, index) => {
          if (attachment.kind === "link") attachment.link.pin(join(dir, single ? linkPinName(index) : programLinkPinName(entry.program, index)));
        });
      }
      const loaded = assemble(ref, loadKey, dir, true, attached, maps, mapBytes);
      if (podLinks) {
        loaded.podScope = {
          planned,
          pods: podLinks,
          ...(filter ? { filter } : {}),
          ...(podGates && gateLinks ? { podGates, gateLinks } : {}),
          ...(netGates && netGates.size > 0 ? { netGates } : {}),
        };
      }
      return loaded;
    } catch (error) {
      for (const gate of podGates?.values() ?? []) gate.close();
      for (const gate of netGates?.values() ?? []) gate.calls.close();
      for (const link of gateLinks?.values() ?? []) closeAttachments(link.attachments, false);
      for (const part of attached) {
        for (const a of part.attachments) ignoreErrors(() => (a.kind === "link" ? a.link.close() : a.close()));
        part.program.close();
      }
      for (const m of maps.values()) m.close();
      // A generation its rules now refuse must not keep running from its pins.
      if (error instanceof ObjectRefusedError) {
        await removeGeneration({ ref, loadKey, dir, complete: true }, this.pinRoot).catch(() => undefined);
        await removeDirAndEmptyParents(dir, this.pinRoot).catch(() => undefined);
      }
      if (error instanceof StaleGenerationError) throw error;
      throw withCode("EOP_ERR_PIN_FAILED", `adopt the pinned objects of ${label} in ${dir}`, error);
    }
  }

  /** Whether adopted links are where the program's plugin would attach it now at `target` (`adopted`; kept when the plugin cannot tell). */
  private async linksWhereWanted(attachments: readonly Attachment[], { entry, plugin }: PreflightProgram, target: unknown): Promise<boolean> {
    const links = attachments.flatMap((a) => (a.kind === "link" ? [a.link] : []));
    if (!plugin.adopted || links.length === 0) return true;
    const adopted = plugin.adopted.bind(plugin);
    return callPlugin(plugin, "adopted", () => adopted({ links, programType: entry.type, target, host: this.host }));
  }
}

/** A pinned generation this agent cannot adopt as it is (pinned before a layout change): removed and loaded again. */
class StaleGenerationError extends Error {}

/** The spec's programs as the kernel loads them (type, expected attach type): the object opened again and prepared by the plugins, never loaded. */
async function preparedPrograms(bytes: Uint8Array, path: string, planned: readonly PreflightProgram[]): Promise<ProgramSpec[]> {
  const object = BpfObject.open({ buffer: bytes, name: objectName(path) });
  try {
    for (const { entry, plugin, target } of planned) {
      await callPlugin(plugin, "prepare", () => plugin.prepare({ object, programName: entry.program, programType: entry.type, target }));
    }
    const programs = object.programs();
    return planned.map(({ entry }) => programs.find((p) => p.name === entry.program)!);
  } finally {
    object.close();
  }
}

/** A program as the enforcement checks it: its function and the kernel type it loads as. */
interface CheckedProgram {
  name: string;
  type: string;
  attachType?: string;
}

function assemble(
  ref: ResourceRef,
  loadKey: string,
  dir: string,
  adopted: boolean,
  programs: AttachedProgram[],
  maps: Map<string, BpfMap>,
  mapBytes: number,
): LoadedProgram {
  return { ref, loadKey, dir, adopted, programs, program: programs[0]!.program, maps, attachments: programs.flatMap((p) => p.attachments), mapBytes };
}

/**
 * libbpf pins a map declared with `__uint(pinning, LIBBPF_PIN_BY_NAME)` at `/sys/fs/bpf/<name>`
 * and reuses whatever map is already pinned there: any resource of any tenant declaring the
 * same name would share it, and the pin would outlive every resource. Such maps are contained
 * instead: libbpf's pin path is cleared, and the map is pinned in the generation directory like
 * every other map (`map_<name>`), private to this resource and removed with it.
 */
/** Gives adopted maps the key and value types of the object that created them. */
function declareMapTypes(maps: ReadonlyMap<string, BpfMap>, bytes: Uint8Array, path: string): void {
  const object = BpfObject.open({ buffer: bytes, name: objectName(path) });
  try {
    const declared = new Set(object.maps().map((m) => m.name));
    for (const [name, map] of maps) if (declared.has(name)) map.useDeclaredTypes(object.mapTypes(name));
  } finally {
    object.close();
  }
}

function containPinning(object: BpfObject, mapSpecs: readonly MapSpec[], dir: string, logger: Logger): void {
  for (const spec of mapSpecs) {
    if (spec.pinPath === null) continue;
    object.setMapPinPath(spec.name, null);
    logger.info(
      { map: spec.name, declared: spec.pinPath, pinnedAt: join(dir, mapPinName(spec.name)) },
      "map declared with LIBBPF_PIN_BY_NAME is pinned in the resource's own directory, not shared",
    );
  }
}

/**
 * Pod scope (`spec.selector`) runs a program only for the selected pods: a type whose plugin
 * declares `podScope` is attached per pod (cgroup) or behind the agent's gate (tracing, see
 * pod-gate.ts); any other type, or one the plugin marks `unsupported`, is refused, never run
 * node-wide instead (that would give the tenant more than it asked for, and than the policy's
 * "own workloads" scope allows). Per-container scope is refused too: the container's name is in
 * the pod's status, which the agent's metadata-only pod informer does not carry. An unknown
 * type is named first.
 */
export function refusePodScope(registry: PluginRegistry, spec: EbpfMapSpec): void {
  if (spec.selector === undefined) return;
  const entries = programsOf(spec);
  const unsupported = entries.filter((entry) => registry.forType(entry.type).plugin.podScope === undefined);
  if (unsupported.length > 0) {
    const types = [...new Set(unsupported.map((e) => `"${e.type}"`))].join(", ");
    const supported = registry
      .programTypes()
      .filter((type) => {
        const scope = registry.forType(type).plugin.podScope;
        return scope !== undefined && scope.unsupported?.[type] === undefined;
      })
      .sort();
    throw operatorError(
      "EOP_ERR_POD_SCOPE_UNSUPPORTED",
      `spec.selector: this agent cannot yet confine program type ${types} to pods (pod scope runs ${supported.join(", ") || "no"} programs), and does not run a pod-scoped resource node-wide; remove the selector to run it node-wide (where the tenancy policy allows)`,
    );
  }
  for (const entry of entries) {
    const why = registry.forType(entry.type).plugin.podScope!.unsupported?.[entry.type];
    if (why !== undefined) {
      throw operatorError(
        "EOP_ERR_POD_SCOPE_UNSUPPORTED",
        `spec.selector: ${programField(entry, "type")} "${entry.type}" cannot be confined to pods: ${why}; the agent does not run a pod-scoped resource node-wide`,
      );
    }
  }
  // One container of a pod: its cgroup (attach mode) or its cgroup id (the gate's filter). Types
  // that attach to the pod's interfaces cannot narrow to a container: they share the pod's network.
  const network = spec.selector.container === undefined ? undefined : entries.find((entry) => registry.forType(entry.type).plugin.podScope!.network === true);
  if (network) {
    throw operatorError(
      "EOP_ERR_POD_SCOPE_UNSUPPORTED",
      `spec.selector.container: ${programField(network, "type")} "${network.type}" attaches to the pod's network interfaces, which all of a pod's containers share (one network namespace per pod), so it cannot be confined to one container; remove spec.selector.container to count the whole pod`,
    );
  }
}

/** Pod scope in gate mode: the program runs behind the agent's cgroup filter (pod-gate.ts), never attached itself. */
function isGated(plugin: ProgramTypePlugin): boolean {
  return plugin.podScope?.mode === "gate";
}

/** Gate mode whose gate attaches at each pod's own targets (`podScope.gateTargets`), not at the target as written. */
function perPodGate(plugin: ProgramTypePlugin): boolean {
  return isGated(plugin) && plugin.podScope?.gateTargets !== undefined;
}

/**
 * The first preflight step, which needs no kernel: a plugin handles the entry's type, the
 * target matches the plugin's schema and parses. `ebpf-agent validate` runs it too.
 */
export async function parseTarget(registry: PluginRegistry, entry: ResourceProgram): Promise<Omit<PreflightProgram, "entry">> {
  const { type } = entry;
  const { plugin, validateTarget } = registry.forType(type);
  if (!validateTarget(entry.target)) {
    const reasons = (validateTarget.errors ?? []).map((e) => e.message ?? e.keyword).join("; ");
    throw operatorError("EOP_ERR_TARGET_INVALID", `${programField(entry, "target")} "${entry.target}" is not a valid ${type} target: ${reasons}`);
  }
  const target = await callPlugin(plugin, "parseTarget", () => plugin.parseTarget(type, entry.target));
  return { plugin, target };
}

/** Every program the spec names is a function of the compiled object (EOP_ERR_PROGRAM_NOT_FOUND). */
export function checkProgramsPresent(programs: readonly ProgramSpec[], planned: readonly Pick<PreflightProgram, "entry">[], label: string): void {
  for (const { entry } of planned) {
    if (!programs.some((p) => p.name === entry.program)) {
      throw operatorError(
        "EOP_ERR_PROGRAM_NOT_FOUND",
        `${programField(entry, "program")} "${entry.program}" is not a program in the code of ${label} (programs: ${programs.map((p) => p.name).join(", ") || "none"})`,
      );
    }
  }
}

/** libbpf names the maps it makes for global variables "<object>.rodata" and so on. */
export function isInternalMap(name: string): boolean {
  return name.includes(".");
}

function requiredMaps(request: LoadRequest): readonly string[] {
  return request.requiredMaps ?? (request.spec.map ? [request.spec.map] : []);
}

/**
 * The kernel's refusal, at attach time, of the tenant's program as written: a tracepoint program
 * that reads further into its context than the event's record goes gets EACCES from the
 * perf-event link (kernel/trace/bpf_trace.c, perf_event_set_bpf_prog: the verifier's
 * max_ctx_offset against the record's size). The verifier cannot know the record, so it passes
 * the load; attaching (or podScope.verify, its dry run before a gate tail-calls the program) is
 * where the kernel says no, and only an edit of the code fixes it: EOP_ERR_ATTACH_REFUSED, a
 * spec fault the agent does not retry. Only the tracepoint link's EACCES is taken: elsewhere
 * EACCES can be the agent's privileges (perf_event_open, a security module), a system fault.
 */
function attachRefusal(error: unknown, entry: ResourceProgram, label: string): Error | undefined {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 8; depth++) {
    if (current instanceof LibbpfError && current.code === "EACCES" && current.op.startsWith("bpf_link_create(tracepoint ")) {
      return operatorError(
        "EOP_ERR_ATTACH_REFUSED",
        `${programField(entry, "program")} "${entry.program}" of ${label} reads past the record of ${entry.type} "${entry.target}": ` +
          `the kernel refuses to attach it (EACCES); read only the event's fields, as its format file in tracefs lists them (events/${entry.target}/format)`,
        current,
      );
    }
    current = current.cause;
  }
  return undefined;
}

/** Calls into a plugin; its own coded errors pass through, anything else is wrapped. */
async function callPlugin<T>(
  plugin: ProgramTypePlugin,
  step: string,
  call: () => T | Promise<T>,
  code: "EOP_ERR_PLUGIN_FAILED" | "EOP_ERR_ATTACH_FAILED" = "EOP_ERR_PLUGIN_FAILED",
  message = `plugin "${plugin.meta.name}" failed in ${step}()`,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof PluginTargetError) throw error;
    throw withCode(code, message, error);
  }
}

function wrap<T>(code: "EOP_ERR_LOAD_FAILED" | "EOP_ERR_ATTACH_FAILED", message: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw operatorError(code, message, error);
  }
}

async function readObject(path: string, label: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw operatorError("EOP_ERR_LOAD_FAILED", `read the compiled object of ${label}`, error);
  }
}

function inspect(bytes: Uint8Array, source: string, label: string): ObjectReport {
  try {
    return inspectObject(bytes, { source });
  } catch (error) {
    if (error instanceof ObjectFormatError) throw operatorError("EOP_ERR_OBJECT_INVALID", `inspect the compiled object of ${label}: ${error.message}`, error);
    throw error;
  }
}

/** libbpf's object name for a file: its base name up to the first dot. */
function objectName(path: string): string {
  return basename(path).split(".")[0] || "object";
}

function ignoreErrors(call: () => void): void {
  try {
    call();
  } catch {
    // best effort: the object is being torn down anyway
  }
}

function podScoped(spec: Pick<EbpfMapSpec, "selector">): boolean {
  return spec.selector !== undefined;
}

/**
 * Runs `attach` again while a just-detached link of the same program at the same hook may still
 * be on its way out. A link whose last reference was its bpffs pin is freed after an RCU grace
 * period (bpffs frees its inodes that way), and a perf-event link (tracepoint, kprobe) cannot be
 * detached before: until then the tracepoint's program list still holds the program and a new
 * attach of it is refused with EEXIST. Bounded: ~1 s in all, then the error stands.
 */
async function whileReleasing<T>(attach: () => Promise<T>): Promise<T> {
  for (let waitMs = 5; ; waitMs *= 2) {
    try {
      return await attach();
    } catch (error) {
      if (waitMs > 640 || !hasErrno(error, ["EEXIST"])) throw error;
      await delay(waitMs);
    }
  }
}

/** Closes attachments; `detach` also detaches links (not on shutdown, where pins keep them). */
function closeAttachments(attachments: readonly Attachment[], detach: boolean): void {
  for (const a of attachments) {
    if (a.kind === "link") {
      if (detach) ignoreErrors(() => a.link.detach());
      ignoreErrors(() => a.link.close());
    } else ignoreErrors(() => a.close());
  }
}

/**
 * The pinned pod links of a pod-scoped generation, by pod UID; those of the `network` programs
 * (by index) also in the pod's `unverified`, checked against the pod at its first sync.
 */
function adoptPodLinks(dir: string, entries: readonly string[], network: ReadonlySet<number>): Map<string, PodAttachment> {
  const pods = new Map<string, PodAttachment>();
  for (const entry of entries) {
    const uid = podOfLinkPin(entry);
    if (uid === undefined) continue;
    const pod = pods.get(uid) ?? { uid, attachments: [] };
    const link = BpfLink.openPinned(join(dir, entry));
    const attachment: Attachment = { kind: "link", link, description: `pinned ${entry}` };
    pod.attachments.push(attachment);
    const program = podLinkPinParts(entry)?.program;
    if (program !== undefined && network.has(program)) {
      pod.unverified ??= new Map();
      pod.unverified.set(program, [...(pod.unverified.get(program) ?? []), attachment]);
    }
    // A cgroup link says which cgroup it is on (0: that cgroup is gone), so a pod whose cgroup
    // was made anew while no agent ran (a restarted container) is attached again.
    let cgroupId: bigint | undefined;
    try {
      cgroupId = link.info().cgroupId;
    } catch {
      // no info: treated as before (kept as it is)
    }
    if (cgroupId !== undefined) pod.cgroupIds = [...new Set([...(pod.cgroupIds ?? []), cgroupId])];
    pods.set(uid, pod);
  }
  return pods;
}

async function unlinkPodPins(dir: string, uid: string, root: string): Promise<void> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  for (const entry of entries) {
    if (podOfLinkPin(entry) !== uid) continue;
    await assertContained(root, join(dir, entry), "file");
    await rm(join(dir, entry), { force: true });
  }
}

async function removeGeneration(generation: PinnedGeneration, root: string): Promise<void> {
  await assertContained(root, generation.dir);
  const entries = await readdir(generation.dir).catch(() => [] as string[]);
  for (const entry of entries) {
    if (!entry.startsWith("link_") && !isPodLinkPin(entry)) continue;
    // A planted link would make us detach another component's program.
    if (
      !(await assertContained(root, join(generation.dir, entry), "file").then(
        () => true,
        () => false,
      ))
    )
      continue;
    ignoreErrors(() => {
      const link = BpfLink.openPinned(join(generation.dir, entry));
      try {
        link.detach();
      } finally {
        link.close();
      }
    });
  }
  await rm(generation.dir, { recursive: true, force: true });
}

/** Removes a generation directory and then its resource and namespace folders when empty. */
async function removeDirAndEmptyParents(dir: string, root: string): Promise<void> {
  await assertContained(root, dir);
  await rm(dir, { recursive: true, force: true });
  let parent = dirname(dir);
  while (parent.startsWith(`${root}/`)) {
    try {
      await rmdir(parent);
    } catch {
      return; // not empty: another generation or resource lives there
    }
    parent = dirname(parent);
  }
}
