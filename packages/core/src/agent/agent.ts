/**
 * The agent's reconciler: given the desired EbpfMaps, make the kernel and `/metrics` match.
 * Work on one resource is serialized (a promise chain per namespace/name); different resources
 * proceed independently, and a failure in one only ever changes that resource's status.
 *
 * A changed resource is loaded beside the running one and swapped in only when it is fully
 * attached, so a bad edit leaves the previous program running (phase Degraded) and a good edit
 * replaces it without a gap.
 */
import { createHash } from "node:crypto";
import { refKey, type Desired, type DesiredResource, type ManifestProblem, type ResourceRef } from "../api/manifest.js";
import type { AgentMetrics } from "../observability/agent-metrics.js";
import { metricConfigs } from "../plan/metric-config.js";
import { planMetrics, type PlannedMetric } from "../plan/plan-metrics.js";
import type { MapCollector } from "../scrape/map-family.js";
import { DecoderRegistry } from "../decoders/registry.js";
import { describeError, errorCode, errorFault, hasErrno } from "../errors.js";
import { resourceLogger, type Logger } from "../logger.js";
import { PROGRAM_PIN, programPinName } from "../loader/pin-layout.js";
import { ObjectRefusedError, type EnforcementResolver, type LoadEnforcement } from "../loader/enforcement.js";
import { loadKeyOf, type LoadRequest, type LoadedProgram, type ProgramLoader } from "../loader/program-loader.js";
import type { ObjectProvider } from "./object-provider.js";
import { createPodDecoder } from "../decoders/pod.js";
import { createContainerDecoder } from "../decoders/container.js";
import {
  containerIdTable,
  needsContainerNames,
  podIdTable,
  podNetnsOf,
  scopedPods,
  targetCgroup,
  type PodScopeDependencies,
  type ScopedPod,
  type UnplacedPod,
} from "./pod-scope.js";
import type { OpenPodNetns } from "../pods/pod-netns.js";
import { ConditionType, Reason, newStatus, setCondition, type Phase, type ResourceStatus } from "../api/resource-status.js";

interface ManagedResource {
  ref: ResourceRef;
  status: ResourceStatus;
  /** Hash of the spec last applied successfully. */
  appliedSpecHash?: string;
  /** Hash of the spec last attempted (successfully or not). */
  attemptedSpecHash?: string;
  loaded?: LoadedProgram;
  /** The request `loaded` came from: to check it again when the resource's rules change. */
  loadedRequest?: LoadRequest;
  /** What the collector serves for this resource (maps of `loaded`). */
  served?: PlannedMetric[];
  queue: Promise<void>;
  /** Pod scope: the attached pods' cgroup ids -> pod name, which the resource's `pod` decoder reads. */
  podIds: Map<bigint, string>;
  /** Pod scope: the attached pods' containers' cgroup ids -> container name, which its `container` decoder reads. */
  containerIds: Map<bigint, string>;
  /** Pod scope: a pod sync is queued (churn does not pile them up). */
  podSyncQueued?: boolean;
  /** Pod scope: why selected pods are not attached (hostNetwork, no process yet), as last reported. */
  podNotes?: string;
  /** Pod scope: what the status last said about selected pods that could not be placed. */
  podUnplaced?: string;
  /** The desired state last applied: what a retry reconciles again. */
  desired?: { resource: DesiredResource; source: string | undefined };
  /** Failures of this spec in a row that may pass by themselves, and the timer of the next try. */
  retry?: { failures: number; timer?: NodeJS.Timeout };
}

/** Called after every change of a resource's status; `undefined` when the resource is gone. */
export type StatusListener = (ref: ResourceRef, status: ResourceStatus | undefined) => void;

export interface AgentDependencies {
  /** Compiles (standalone) or fetches (cluster) the resource's object. */
  objects: ObjectProvider;
  loader: Pick<ProgramLoader, "preflight" | "load" | "recheck" | "unload" | "listPinned" | "removePinned" | "attachPod" | "detachPod">;
  collector: Pick<MapCollector, "add" | "remove">;
  metrics: AgentMetrics;
  logger: Logger;
  /** Label decoders: core's plus the plugins' (default: core's only). */
  decoders?: DecoderRegistry;
  /**
   * What to enforce per resource (a tenancy policy's rules, verdict mode, privileges); default:
   * no rules, enforce mode, tracing privileges only for tracing program types.
   */
  enforcement?: EnforcementResolver;
  /** Pod scope: the node's pods and their cgroups (default: none, the standalone agent). */
  pods?: PodScopeDependencies;
  /** Backoff of retries after failures that may pass by themselves (default 5 s doubling to 5 min). */
  retry?: { minMs?: number; maxMs?: number };
}

/**
 * Whether a failed attempt is tried again without an edit: the system's faults (an object not
 * fetched yet, a load or attach the kernel refused for want of memory, a busy hook, a plugin
 * failing) may pass by themselves; the spec's never do, and a kernel lacking a feature does not
 * grow it. Uncoded errors are unexpected: tried again too.
 */
function mayPass(error: unknown): boolean {
  return errorCode(error) !== "EOP_ERR_KERNEL_UNSUPPORTED" && errorFault(error) !== "spec";
}

export class Agent {
  private readonly resources = new Map<string, ManagedResource>();
  private readonly fileProblems = new Map<string, ManifestProblem[]>();
  private readonly decoders: DecoderRegistry;
  private readonly listeners: StatusListener[] = [];
  /** Per namespace: the load step of a resource with a namespace memory budget, one at a time. */
  private readonly namespaceLoads = new Map<string, Promise<void>>();

  private podTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: AgentDependencies) {
    this.decoders = deps.decoders ?? new DecoderRegistry();
    deps.pods?.source.onChange(() => this.syncAllPods());
  }

  /**
   * Pod scope follows churn: every pod-scoped resource is synced with the node's pods when they
   * change and every `intervalMs` (a new pod's cgroup can appear after the API server lists it).
   */
  private syncAllPods(): void {
    if (this.stopped) return;
    for (const managed of this.resources.values()) {
      if (!managed.loaded?.podScope || managed.podSyncQueued) continue;
      managed.podSyncQueued = true;
      this.enqueue(managed.ref, managed.status.source, async (m) => {
        m.podSyncQueued = false;
        await this.syncPods(m);
      }).catch((error: unknown) => resourceLogger(this.deps.logger, managed.ref).error({ error: describeError(error) }, "pod sync failed"));
    }
  }

  private updatePodTimer(): void {
    const wanted = !this.stopped && this.deps.pods !== undefined && [...this.resources.values()].some((m) => m.loaded?.podScope);
    if (wanted && !this.podTimer) {
      this.podTimer = setInterval(() => this.syncAllPods(), this.deps.pods!.intervalMs ?? 2_000);
      this.podTimer.unref();
    } else if (!wanted && this.podTimer) {
      clearInterval(this.podTimer);
      this.podTimer = undefined;
    }
  }

  /**
   * Attaches a pod-scoped resource's program to the selected pods' cgroups on this node, detaches
   * it from pods no longer selected or gone (their pins removed), and rebuilds the resource's
   * cgroup id -> pod table (so a gone pod's series disappear at the next scrape). A pod that
   * fails to attach is logged and left out (tried again at the next sync); the others run.
   */
  private async syncPods(managed: ManagedResource, report = false): Promise<void> {
    const loaded = managed.loaded;
    const selector = managed.loadedRequest?.spec.selector;
    // A sync queued before the resource was removed finds it gone: nothing to attach any more.
    if (!loaded?.podScope || !selector || this.resources.get(refKey(managed.ref)) !== managed) return;
    const log = resourceLogger(this.deps.logger, managed.ref);
    // Container names come from a second watch, started by the first resource that needs them.
    if (needsContainerNames(managed.loadedRequest!.spec)) this.deps.pods?.source.watchContainers?.();
    const unplaced: UnplacedPod[] = [];
    const pods = this.deps.pods ? await scopedPods(this.deps.pods, managed.ref.namespace, selector, unplaced) : [];
    // Selected pods whose cgroup is not found: said in the status (coded), so a node where pod
    // scope cannot work (no cgroup v2, a runtime that keeps containers out of it) says so per resource.
    let unplacedChanged = false;
    const unplacedText = unplaced.map((p) => `${p.name}: ${p.reason}`).join("; ");
    if (unplacedText !== (managed.podUnplaced ?? "")) {
      managed.podUnplaced = unplacedText;
      unplacedChanged = true;
      if (unplaced.length > 0) log.warn({ unplaced }, "selected pods without a cgroup v2 on this node");
    }
    const wanted = new Map(pods.map((p) => [p.uid, p]));
    let changed = false;
    // A gated pod whose cgroup was made anew (same UID) is let through again under its new id.
    // So is a pod whose target cgroup was made anew: a restarted container (selector.container).
    const going = [...loaded.podScope.pods]
      .filter(([uid, attachment]) => {
        const pod = wanted.get(uid);
        return !(pod && (attachment.cgroupIds === undefined || attachment.cgroupIds.includes(targetCgroup(pod).id)));
      })
      .map(([uid]) => uid);
    // Their rows stop being named before they are detached, not after (no scrape in between names them).
    if (going.length > 0)
      this.setPodTables(
        managed,
        pods.filter((p) => loaded.podScope!.pods.has(p.uid) && !going.includes(p.uid)),
      );
    for (const uid of going) {
      await this.deps.loader.detachPod(loaded, uid);
      changed = true;
      log.info({ podUid: uid }, "pod gone or no longer selected: detached and unpinned");
    }
    const failed: string[] = [];
    // Types that attach to the pod's interfaces (xdp, socket) need its own network namespace.
    const network = loaded.podScope.planned.some((p) => p.plugin.podScope?.network === true);
    const notes: string[] = [];
    for (const pod of pods) {
      // Per-pod gate targets (a container's binary) are asked for again when adopted, or when the
      // pod's containers changed (a container restarted, perhaps from another image).
      const containers = pod.cgroup.containers
        .map((c) => String(c.id))
        .sort()
        .join(",");
      const known = loaded.podScope.pods.get(pod.uid);
      // Adopted network links (unverified) are checked against the pod's namespace and cgroup id in attachPod.
      if (known && !known.unresolved && !known.unverified && (known.gateLinks === undefined || known.containers === containers)) continue;
      let netns: OpenPodNetns | undefined;
      try {
        if (network) {
          const lookup = await podNetnsOf(this.deps.pods, pod);
          if (lookup.found === "hostNetwork") {
            notes.push(
              `not attached to ${pod.name}: it uses the node's network (hostNetwork), and a pod-scoped program attaches only to a pod's own interfaces, never the node's`,
            );
            continue;
          }
          if (lookup.found === "none") {
            notes.push(
              `not yet attached to ${pod.name}: no process of the pod whose network namespace the agent can open (none started yet, or the agent lacks the host's PID namespace or CAP_SYS_PTRACE: docs/deploy.md)`,
            );
            continue;
          }
          netns = lookup.netns;
        }
        const target = targetCgroup(pod);
        await this.deps.loader.attachPod(loaded, {
          uid: pod.uid,
          namespace: pod.namespace,
          pod: pod.name,
          ...(pod.container ? { container: pod.container.name } : {}),
          directory: target.directory,
          path: target.path,
          ...(netns ? { netns: { fd: netns.fd, inode: netns.inode } } : {}),
          cgroupId: target.id,
          level: target.level,
          containers,
        });
        changed = true;
        log.info({ pod: pod.name, cgroup: target.path, ...(netns ? { netns: String(netns.inode) } : {}) }, "attached to pod");
      } catch (error) {
        failed.push(`${pod.name} (${describeError(error)})`);
        log.error({ pod: pod.name, error: describeError(error) }, "attach to pod failed; tried again at the next pod sync");
      } finally {
        await netns?.close().catch(() => undefined);
      }
    }
    const attached = pods.filter((p) => loaded.podScope!.pods.has(p.uid));
    this.setPodTables(managed, attached);
    const noted = notes.join("; ");
    if (noted !== (managed.podNotes ?? "")) {
      if (noted !== "") log.warn({ notes }, "pods not attached");
      managed.podNotes = noted;
      changed = true;
    }
    if (!report && !changed && !unplacedChanged && failed.length === 0) return;
    const descriptions = attached.map((p) =>
      network
        ? `pod ${p.namespace}/${p.name}: ${loaded
            .podScope!.pods.get(p.uid)!
            .attachments.map((a) => a.description)
            .join(", ")}`
        : `pod ${p.namespace}/${p.name}${p.container ? ` container ${p.container.name}` : ""} (cgroup ${targetCgroup(p).path})`,
    );
    if (managed.status.program) managed.status.program.attachments = descriptions;
    for (const program of managed.status.programs ?? []) program.attachments = descriptions;
    const names = attached.map((p) => p.name).join(", ");
    setCondition(managed.status.conditions, {
      type: ConditionType.Loaded,
      status: "True",
      reason: loaded.adopted ? Reason.Adopted : Reason.Loaded,
      message:
        (attached.length === 0 && (pods.length > 0 || unplaced.length > 0)
          ? `program ${loaded.program.info().id} loaded, attached to no pod`
          : attached.length === 0
            ? `program ${loaded.program.info().id} loaded, attached to no pod: no pod of namespace ${managed.ref.namespace} on this node matches spec.selector${this.deps.pods?.standalone !== false ? " (a standalone agent knows no pods: there is no API server)" : ""}`
            : `program ${loaded.program.info().id} attached to ${attached.length} pod(s): ${names}`) +
        (failed.length > 0 ? `; attaching to ${failed.join(", ")} failed (retried)` : "") +
        (unplaced.length > 0 ? `; selected but not attached (EOP_ERR_POD_CGROUP_NOT_FOUND): ${unplacedText}` : "") +
        (noted !== "" ? `; ${noted}` : ""),
    });
    this.notify(managed.ref, managed.status);
  }

  /** The tables the resource's `pod` and `container` decoders read: the attached pods' cgroups. */
  private setPodTables(managed: ManagedResource, attached: readonly ScopedPod[]): void {
    managed.podIds = podIdTable(attached);
    managed.containerIds = this.deps.pods ? containerIdTable(this.deps.pods.source, attached) : new Map();
  }

  /** The decoders a resource's metrics plan with: a pod-scoped one's `pod` and `container` read its own tables. */
  private decodersFor(managed: ManagedResource, spec: { selector?: unknown }): DecoderRegistry {
    if (spec.selector === undefined) return this.decoders;
    return this.decoders.derive([createPodDecoder((id) => managed.podIds.get(id)), createContainerDecoder((id) => managed.containerIds.get(id))]);
  }

  /** Subscribes to status changes (cluster mode writes them to the per-node status objects). */
  onStatus(listener: StatusListener): void {
    this.listeners.push(listener);
  }

  private notify(ref: ResourceRef, status: ResourceStatus | undefined): void {
    for (const listener of this.listeners) {
      try {
        listener(ref, status);
      } catch (error) {
        this.deps.logger.error({ error: describeError(error) }, "status listener threw");
      }
    }
  }

  /** Brings the agent to exactly the given set of resources. */
  async sync(desired: readonly Desired[], problems: ManifestProblem[] = []): Promise<void> {
    this.fileProblems.clear();
    for (const problem of problems) {
      const list = this.fileProblems.get(problem.source) ?? [];
      list.push(problem);
      this.fileProblems.set(problem.source, list);
      this.deps.logger.error({ code: problem.code, source: problem.source, line: problem.line }, problem.message);
    }
    const wanted = new Map(desired.map((d) => [refKey(d.ref), d]));
    // A resource whose manifest became invalid keeps running its last good spec (Degraded).
    const invalid = new Map(problems.filter((p) => p.ref).map((p) => [refKey(p.ref!), p]));
    const work: Promise<void>[] = [];
    for (const [key, managed] of this.resources) {
      if (!wanted.has(key) && !invalid.has(key)) work.push(this.remove(managed.ref));
    }
    for (const [key, problem] of invalid) {
      if (!wanted.has(key)) work.push(this.reportInvalid(problem));
    }
    for (const manifest of wanted.values()) work.push(this.apply(manifest));
    await Promise.all(work);
    this.updateGauges();
  }

  apply(manifest: Desired): Promise<void> {
    return this.enqueue(manifest.ref, manifest.source, (managed) => {
      managed.desired = { resource: manifest.resource, source: manifest.source };
      return this.reconcile(managed, manifest.resource, manifest.source);
    });
  }

  remove(ref: ResourceRef): Promise<void> {
    const managed = this.resources.get(refKey(ref));
    if (!managed) return Promise.resolve();
    const run = managed.queue.then(async () => {
      const log = resourceLogger(this.deps.logger, ref);
      clearTimeout(managed.retry?.timer);
      this.deps.collector.remove(ref);
      if (managed.loaded) await this.deps.loader.unload(managed.loaded);
      managed.loaded = undefined;
      this.deps.metrics.attached.remove({ namespace: ref.namespace, ebpfmap: ref.name });
      this.resources.delete(refKey(ref));
      log.info({}, "resource removed: program detached and unpinned");
      this.updateGauges();
      this.updatePodTimer();
      this.notify(ref, undefined);
    });
    managed.queue = run.catch(() => undefined);
    return run;
  }

  statuses(): ResourceStatus[] {
    return [...this.resources.values()].map((m) => m.status).sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  }

  problems(): ManifestProblem[] {
    return [...this.fileProblems.values()].flat();
  }

  /** Removes pinned generations that no resource of this agent holds (deleted while we were down). */
  async collectGarbage(): Promise<void> {
    const held = new Set([...this.resources.values()].map((m) => m.loaded?.dir).filter((d): d is string => d !== undefined));
    for (const generation of await this.deps.loader.listPinned()) {
      if (held.has(generation.dir)) continue;
      // Wait for in-flight work on this resource: it may be about to pin this very directory.
      await this.resources.get(refKey(generation.ref))?.queue;
      if (this.resources.get(refKey(generation.ref))?.loaded?.dir === generation.dir) continue;
      this.deps.logger.info({ namespace: generation.ref.namespace, ebpfmap: generation.ref.name, dir: generation.dir }, "removing pins no resource owns");
      await this.deps.loader.removePinned(generation);
    }
  }

  /** Closes our handles; pins stay so a restarted agent adopts the running programs. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.podTimer) clearInterval(this.podTimer);
    this.podTimer = undefined;
    for (const managed of this.resources.values()) clearTimeout(managed.retry?.timer);
    await Promise.all([...this.resources.values()].map((m) => m.queue));
    for (const managed of this.resources.values()) {
      this.deps.collector.remove(managed.ref);
      if (managed.loaded) await this.deps.loader.unload(managed.loaded, { keepPins: true });
      managed.loaded = undefined;
    }
  }

  private enqueue(ref: ResourceRef, source: string | undefined, work: (managed: ManagedResource) => Promise<void>): Promise<void> {
    const key = refKey(ref);
    let managed = this.resources.get(key);
    if (!managed) {
      managed = { ref, status: newStatus(ref, source), queue: Promise.resolve(), podIds: new Map(), containerIds: new Map() };
      this.resources.set(key, managed);
    }
    const target = managed;
    const run = target.queue.then(() => work(target));
    target.queue = run.catch(() => undefined);
    return run;
  }

  private async reportInvalid(problem: ManifestProblem): Promise<void> {
    await this.enqueue(problem.ref!, problem.source, async (managed) => {
      managed.status.source = problem.source;
      managed.attemptedSpecHash = undefined;
      clearTimeout(managed.retry?.timer);
      managed.retry = undefined;
      this.fail(managed, Reason.InvalidSpec, problem.code, problem.message);
    });
  }

  /** `retrying`: a retry of the same spec after a failure that may pass (see `mayPass`). */
  private async reconcile(managed: ManagedResource, resource: DesiredResource, source: string | undefined, retrying = false): Promise<void> {
    const { ref } = managed;
    const spec = resource.spec;
    const enforcement: LoadEnforcement | undefined = this.deps.enforcement?.(ref, spec);
    // A changed policy is a change too: the object is checked again, the program maybe rewritten.
    const specHash = createHash("sha256")
      .update(JSON.stringify([spec, enforcement ?? null]))
      .digest("hex");
    managed.status.source = source;
    if (specHash === managed.attemptedSpecHash && !retrying) {
      // Nothing changed since the last attempt, but the generation may have: an edit reverted to
      // the spec this node already runs (a broken edit that never reached the node, then undone)
      // is a new generation with the same program. Report it under the new generation, or the
      // operator waits forever for this node to catch up.
      const generation = resource.metadata.generation;
      if (generation !== undefined && managed.status.observedGeneration !== generation) {
        managed.status.observedGeneration = generation;
        this.notify(ref, managed.status);
      }
      return;
    }
    // A new spec starts counting its failures afresh; a retry (or an edit) replaces a pending one.
    clearTimeout(managed.retry?.timer);
    if (specHash !== managed.attemptedSpecHash) managed.retry = undefined;
    managed.attemptedSpecHash = specHash;
    const log = resourceLogger(this.deps.logger, ref);
    const label = `${ref.namespace}/${ref.name}`;
    // One resource serves the flat metric and/or each of spec.metrics[].
    const metrics = metricConfigs(spec);
    const names = metrics.map((m) => m.name).join(", ");
    const decoders = this.decodersFor(managed, spec);

    let step: "preflight" | "compile" | "load" = "preflight";
    let newlyLoaded: LoadedProgram | undefined;
    managed.status.observedGeneration = resource.metadata.generation;
    try {
      await this.deps.loader.preflight(spec);
      step = "compile";
      const compiled = await this.deps.objects.obtain({ ref, resource, label });
      managed.status.objectHash = compiled.hash;
      setCondition(managed.status.conditions, {
        type: ConditionType.Compiled,
        status: "True",
        reason: Reason.Compiled,
        message: `${this.deps.objects.step === "compile" ? "compiled to" : "fetched"} object ${compiled.hash.slice(0, 12)}${compiled.cached ? " (cached)" : ""}`,
      });
      step = "load";
      const loadKey = loadKeyOf(spec, compiled.hash, enforcement);
      const loadStep = async (): Promise<void> => {
        // Planned once, before attach: every metric's map exists and its BTF types fit.
        let planned: PlannedMetric[] = [];
        const request: LoadRequest = {
          ref,
          spec,
          object: { path: compiled.objectPath, hash: compiled.hash },
          logger: log,
          checkMaps: (maps) => void (planned = planMetrics(metrics, maps, decoders, ref)),
          ...(enforcement ? { enforcement } : {}),
          ...(enforcement?.namespaceMapBytes !== undefined ? { namespaceMapBytesInUse: this.namespaceMapBytes(ref) } : {}),
        };
        if (managed.loaded?.loadKey === loadKey) {
          // Same kernel program: the rules may have changed, and the metric mapping.
          await this.deps.loader.recheck(request, managed.loaded);
          this.serve(managed, planMetrics(metrics, managed.loaded.maps, decoders, ref));
          managed.loadedRequest = request;
        } else {
          newlyLoaded = await this.loadReplacing(managed, request);
          const previous = managed.loaded;
          this.serve(managed, planned);
          managed.loaded = newlyLoaded;
          managed.loadedRequest = request;
          newlyLoaded = undefined;
          // Pod scope: the new generation is attached to the pods before the previous one goes (no gap).
          if (managed.loaded.podScope) await this.syncPods(managed).catch((error: unknown) => log.error({ error: describeError(error) }, "pod sync failed"));
          if (previous) await this.deps.loader.unload(previous);
        }
      };
      // With a namespace budget, what the namespace holds is counted and this load added under
      // one lock: two resources of the namespace loading at once cannot both fit in the remainder.
      await (enforcement?.namespaceMapBytes !== undefined ? this.inNamespace(ref.namespace, loadStep) : loadStep());
      managed.appliedSpecHash = specHash;
      const loaded = managed.loaded!;
      managed.status.program = {
        id: loaded.program.info().id,
        loadKey: loaded.loadKey,
        pinDir: loaded.dir,
        adopted: loaded.adopted,
        attachments: loaded.attachments.map((a) => a.description),
      };
      managed.status.programs = loaded.programs.map((p) => ({
        name: p.name,
        type: p.type,
        target: p.target,
        id: p.program.info().id,
        pin: loaded.programs.length === 1 ? PROGRAM_PIN : programPinName(p.name),
        attachments: p.attachments.map((a) => a.description),
      }));
      managed.status.metric = names;
      managed.status.lastError = undefined;
      setCondition(managed.status.conditions, {
        type: ConditionType.Loaded,
        status: "True",
        reason: loaded.adopted ? Reason.Adopted : Reason.Loaded,
        message:
          managed.status.programs.length === 1
            ? `program ${managed.status.program.id} attached: ${managed.status.program.attachments.join(", ")}`
            : `programs ${managed.status.programs.map((p) => `${p.name} (${p.id})`).join(", ")} attached: ${managed.status.program.attachments.join(", ")}`,
      });
      // Pod scope: attached per pod now (a new generation starts with none; an adopted one keeps its pods).
      if (loaded.podScope) await this.syncPods(managed, true);
      setCondition(managed.status.conditions, { type: ConditionType.Ready, status: "True", reason: Reason.Serving, message: `serving ${names}` });
      managed.retry = undefined;
      this.setPhase(managed, "Running");
      log.info({ metric: names, adopted: loaded.adopted }, "resource ready");
    } catch (error) {
      if (newlyLoaded) await this.deps.loader.unload(newlyLoaded).catch(() => undefined);
      const code = errorCode(error);
      if (code === "EOP_ERR_OBJECT_REFUSED") await this.unloadIfRefused(managed, enforcement);
      // The namespace's budget frees up when its other resources go: try again at the next sync.
      if (error instanceof ObjectRefusedError && error.violations.some((v) => v.rule === "namespace-maps-memory")) managed.attemptedSpecHash = undefined;
      const reason =
        code === "EOP_ERR_OBJECT_REFUSED"
          ? Reason.ObjectRefused
          : code === "EOP_ERR_KERNEL_UNSUPPORTED"
            ? Reason.KernelUnsupported
            : step === "compile"
              ? Reason.CompileFailed
              : // Preflight errors that are the spec's fault; others there (a plugin failing, no privileges) are not.
                step === "preflight" && errorFault(error) === "spec"
                ? Reason.InvalidSpec
                : Reason.LoadFailed;
      if (step === "compile") setCondition(managed.status.conditions, { type: ConditionType.Compiled, status: "False", reason, message: describeError(error) });
      const retry = mayPass(error) && !this.stopped ? this.scheduleRetry(managed) : undefined;
      this.fail(managed, reason, code, describeError(error), retry);
    } finally {
      this.updateGauges();
      this.updatePodTimer();
    }
  }

  /** Map memory the namespace's other resources hold on this node (their loaded generations). */
  private namespaceMapBytes(ref: ResourceRef): number {
    let sum = 0;
    for (const managed of this.resources.values()) {
      if (managed.ref.namespace === ref.namespace && refKey(managed.ref) !== refKey(ref)) sum += managed.loaded?.mapBytes ?? 0;
    }
    return sum;
  }

  /** Runs `work` after the namespace's earlier budgeted load steps (see reconcile). */
  private inNamespace(namespace: string, work: () => Promise<void>): Promise<void> {
    const run = (this.namespaceLoads.get(namespace) ?? Promise.resolve()).then(work);
    const settled = run.catch(() => undefined);
    this.namespaceLoads.set(namespace, settled);
    void settled.then(() => {
      if (this.namespaceLoads.get(namespace) === settled) this.namespaceLoads.delete(namespace);
    });
    return run;
  }

  /**
   * Loads a new generation beside the running one (no gap). Hooks that take one program only
   * (XDP on an interface) refuse the second attach with EBUSY/EEXIST: then the other
   * generations of this resource — the running one, or pins a previous agent left for another
   * verdict mode or code — are removed first and the load is tried once more.
   */
  private async loadReplacing(managed: ManagedResource, request: LoadRequest): Promise<LoadedProgram> {
    try {
      return await this.deps.loader.load(request);
    } catch (error) {
      if (errorCode(error) !== "EOP_ERR_ATTACH_FAILED" || !hasErrno(error, ["EBUSY", "EEXIST"])) throw error;
      const others = (await this.deps.loader.listPinned()).filter((g) => refKey(g.ref) === refKey(managed.ref) && g.dir !== managed.loaded?.dir);
      if (!managed.loaded && others.length === 0) throw error;
      const log = resourceLogger(this.deps.logger, managed.ref);
      log.warn({ error: describeError(error) }, "the hook takes one program: replacing the running generation instead of loading beside it");
      if (managed.loaded) {
        this.deps.collector.remove(managed.ref);
        await this.deps.loader.unload(managed.loaded);
        managed.loaded = undefined;
        managed.loadedRequest = undefined;
        managed.served = undefined;
        managed.status.program = undefined;
      }
      for (const generation of others) await this.deps.loader.removePinned(generation);
      return this.deps.loader.load(request);
    }
  }

  /**
   * A refused object must not leave a program running that the current rules refuse too: the
   * running generation is checked again and unloaded if it breaks them (a last good spec that
   * still passes keeps running, Degraded).
   */
  private async unloadIfRefused(managed: ManagedResource, enforcement: LoadEnforcement | undefined): Promise<void> {
    const { loaded, loadedRequest } = managed;
    if (!loaded || !loadedRequest) return;
    const { enforcement: _previous, namespaceMapBytesInUse: _used, ...rest } = loadedRequest;
    const current: LoadRequest = enforcement
      ? { ...rest, enforcement, ...(enforcement.namespaceMapBytes !== undefined ? { namespaceMapBytesInUse: this.namespaceMapBytes(managed.ref) } : {}) }
      : rest;
    const sameProgram = loadKeyOf(loadedRequest.spec, loadedRequest.object.hash, enforcement) === loaded.loadKey;
    const stillAllowed =
      sameProgram &&
      (await this.deps.loader.recheck(current, loaded).then(
        () => true,
        () => false,
      ));
    if (stillAllowed) return;
    resourceLogger(this.deps.logger, managed.ref).warn({ loadKey: loaded.loadKey }, "the running program breaks the resource's rules: unloading it");
    this.deps.collector.remove(managed.ref);
    await this.deps.loader.unload(loaded).catch(() => undefined);
    managed.loaded = undefined;
    managed.loadedRequest = undefined;
    managed.served = undefined;
    managed.status.program = undefined;
  }

  /**
   * Points the collector at a loaded program's maps (replacing what the resource served). All
   * or nothing: if any metric is refused (a name conflict), what was served before is put back.
   */
  private serve(managed: ManagedResource, planned: PlannedMetric[]): void {
    const previous = managed.served;
    const logger = resourceLogger(this.deps.logger, managed.ref);
    this.deps.collector.remove(managed.ref);
    try {
      for (const p of planned) this.deps.collector.add({ ref: managed.ref, ...p, logger });
      managed.served = planned;
    } catch (error) {
      this.deps.collector.remove(managed.ref);
      for (const p of previous ?? []) this.deps.collector.add({ ref: managed.ref, ...p, logger });
      throw error;
    }
  }

  /**
   * Tries the resource's latest desired state again after a failure that may pass, with
   * exponential backoff and jitter (so a node-wide fault does not retry every resource at once).
   * Normal syncs skip the failed spec (its hash is the attempted one): only this timer, an edit or
   * a restart tries it again. Returns what the status says about it.
   */
  private scheduleRetry(managed: ManagedResource): { failures: number; delayMs: number } {
    const failures = (managed.retry?.failures ?? 0) + 1;
    const { minMs = 5_000, maxMs = 300_000 } = this.deps.retry ?? {};
    const delayMs = Math.round(Math.min(minMs * 2 ** (failures - 1), maxMs) * (0.8 + Math.random() * 0.4));
    const timer = setTimeout(() => {
      if (this.stopped || this.resources.get(refKey(managed.ref)) !== managed || !managed.desired) return;
      const { resource, source } = managed.desired;
      this.enqueue(managed.ref, source, (m) => this.reconcile(m, resource, source, true)).catch((error: unknown) =>
        resourceLogger(this.deps.logger, managed.ref).error({ error: describeError(error) }, "retry failed"),
      );
    }, delayMs);
    timer.unref();
    managed.retry = { failures, timer };
    return { failures, delayMs };
  }

  private fail(managed: ManagedResource, reason: string, code: string | undefined, message: string, retry?: { failures: number; delayMs: number }): void {
    const { ref } = managed;
    const running = managed.loaded !== undefined;
    managed.status.lastError = { code, message, time: new Date().toISOString() };
    if (retry) message = `${message} (failed ${retry.failures} time(s) in a row; trying again in ${Math.ceil(retry.delayMs / 1000)} s)`;
    setCondition(managed.status.conditions, {
      type: ConditionType.Ready,
      status: running ? "True" : "False",
      reason: running ? Reason.RunningPreviousSpec : reason,
      message: running ? `the latest spec failed (${message}); still running the previous one` : message,
    });
    if (!running) setCondition(managed.status.conditions, { type: ConditionType.Loaded, status: "False", reason, message });
    this.setPhase(managed, running ? "Degraded" : reason === Reason.KernelUnsupported ? "Unsupported" : "Failed");
    this.deps.metrics.attachFailures.inc({ namespace: ref.namespace, ebpfmap: ref.name, code: code ?? "unknown" });
    resourceLogger(this.deps.logger, ref).error({ code, reason, ...(retry && { failures: retry.failures, retryInMs: retry.delayMs }) }, message);
  }

  private setPhase(managed: ManagedResource, phase: Phase): void {
    managed.status.phase = phase;
    this.deps.metrics.attached.set({ namespace: managed.ref.namespace, ebpfmap: managed.ref.name }, managed.loaded ? 1 : 0);
    this.notify(managed.ref, managed.status);
  }

  private updateGauges(): void {
    const counts: Record<Phase, number> = { Pending: 0, Running: 0, Degraded: 0, Failed: 0, Unsupported: 0 };
    for (const managed of this.resources.values()) counts[managed.status.phase]++;
    for (const [phase, count] of Object.entries(counts)) this.deps.metrics.resources.set({ phase }, count);
  }
}
