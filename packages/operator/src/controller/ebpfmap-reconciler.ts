/**
 * The EbpfMap reconciler. Level-based: it reads the current state and writes the status that
 * state implies, top to bottom in early-return steps:
 *
 *   get (gone -> done) -> deletion + finalizer -> ensure finalizer -> validate (schema, plugin
 *   target) -> tenancy policy (admitted or refused, naming the rule) -> compile once (or take the
 *   object the namespace compiled from the same code a moment ago) -> check the
 *   object against the policy's rules (helpers, maps, quotas, verdict mode: the agent's own
 *   check) -> publish the object -> aggregate per-node statuses (on the nodes the policy allows)
 *   -> patch /status (skipped when nothing changed)
 *
 * What retrying cannot fix (an invalid spec, a compile error) becomes a condition and an Event
 * and is not retried until the spec changes; anything else is thrown and requeued with backoff.
 */
import { createHash } from "node:crypto";
import {
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
  type V1Namespace,
  type V1Node,
} from "@kubernetes/client-node";
import {
  API_GROUP,
  API_VERSION,
  CompileError,
  ERROR_CODES,
  FairScheduler,
  checkCompiledObject,
  describeError,
  errorCode,
  setCondition,
  validateEbpfMapObject,
  programField,
  programsOf,
  formatFieldErrors,
  type Condition,
  type EbpfMapSpec,
  type EbpfMapStatus,
  type LoadEnforcement,
  type Logger,
  type PluginRegistry,
  type Violation,
} from "@ebpf-operator/core";
import type { CompiledObject, ObjectCompiler } from "../compiler/object-compiler.js";
import { EBPFMAP_PLURAL } from "../crd/crds.js";
import { isNotFound } from "../kube/api-errors.js";
import type { EventRecorder } from "../kube/events.js";
import type { Informer } from "../kube/informer.js";
import { mergePatch } from "../kube/merge-patch.js";
import { Conditions, Reasons } from "../shared/conditions.js";
import { CompileTracker, type CompileOutcome } from "./compile-tracker.js";
import { nodeCounts, selectsNode, summarizeNodes } from "../shared/node-selection.js";
import type { ObjectStore } from "../shared/object-store.js";
import {
  admit,
  currentPolicy,
  enforcementOf,
  nodeRefusal,
  objectRefusal,
  type EffectivePolicy,
  type PolicyObject,
  type Refusal,
} from "../shared/tenancy-policy.js";
import { FINALIZER, type EbpfMapObject, type NodeStatusObject } from "../shared/types.js";

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** What the reconciler reads of a watched kind: an informer's cache (kube/informer.ts). */
export type Cache<T extends KubernetesObject> = Pick<Informer<T>, "get" | "list">;

/** The two writes the reconciler makes to an EbpfMap (KubeEbpfMapWriter does them via the API). */
export interface EbpfMapWriter {
  /** Merge-patches metadata, conditional on the resource's resourceVersion; gone is not an error. */
  patchMetadata(resource: EbpfMapObject, metadata: { finalizers: string[] }): Promise<void>;
  /** Merge-patches the status subresource; gone is not an error. */
  patchStatus(resource: EbpfMapObject, status: EbpfMapStatus): Promise<void>;
}

export interface ReconcilerDependencies {
  writer: EbpfMapWriter;
  ebpfMaps: Cache<EbpfMapObject>;
  nodeStatuses: Cache<NodeStatusObject>;
  nodes: Cache<V1Node>;
  /** Namespaces, for the policies' namespace selectors: read from the cache, not one GET per reconcile. */
  namespaces: Cache<V1Namespace>;
  /** EbpfTenancyPolicy objects (cluster-scoped). */
  policies: Cache<PolicyObject>;
  compiler: Pick<ObjectCompiler, "compile">;
  plugins: PluginRegistry;
  objects: Pick<ObjectStore, "publishBytes" | "fetch" | "namespace">;
  /**
   * Checks a compiled object against what the loader will enforce (default: `checkCompiledObject`
   * with the plugins, the agent's own check). `bytes` reads the object, only when needed.
   */
  checkObject?: ObjectCheck;
  events: Pick<EventRecorder, "record">;
  logger: Logger;
  /** How long deletion waits for agents to confirm the unload before giving up. */
  unloadTimeoutMs?: number;
  /** Queues a resource again (its compile finished); without it nothing is re-queued. */
  requeue?: (key: string) => void;
  /**
   * Compile requests outstanding at once (the rest wait here, fairly across namespaces), so a
   * namespace creating thousands of EbpfMaps does not park thousands of sources in the compiler.
   * Default 8, at most 2 per namespace; the operator passes 3 per namespace
   * (OperatorOptions.compileRequestsPerNamespace: one more than the compile server's 2 slots).
   */
  outstandingCompiles?: { total: number; perNamespace: number };
}

export type ObjectCheck = (spec: EbpfMapSpec, bytes: () => Promise<Uint8Array>, enforcement: LoadEnforcement, possibleCpus: number) => Promise<Violation[]>;

/** Object checks remembered (by object, enforcement and CPUs): a policy change re-decides every EbpfMap of a namespace. */
const MAX_REMEMBERED_CHECKS = 4096;
/** Compiled objects remembered per namespace and source, and for how long (see `compiledSources`). */
const MAX_REMEMBERED_SOURCES = 256;
const REMEMBERED_SOURCE_MS = 5 * 60_000;

/** Outcome of the validate/compile steps: an object, a terminal condition, or a compile under way. */
type Failure = { ok: false; reason: string; message: string; compiled?: false; requeueAfterMs?: number };
type Published = { hash: string; sha256: string; configMap: string };
type Preparation = ({ ok: true } & Published) | Failure | { ok: false; pending: true };

/**
 * A compile error the registry blames on the installation (fault "system": no toolchain, no
 * sandbox), not on the program: reported on the resource, but retried (a minute later) instead
 * of remembered, since a fixed installation compiles it.
 */
function isSystemFault(error: CompileError): boolean {
  return ERROR_CODES[error.code].fault === "system";
}

/** Failures the program is to blame for: remembered per source, not retried. */
function isProgramsFault(error: unknown): boolean {
  if (error instanceof CompileError) return !isSystemFault(error);
  return errorCode(error) === "EOP_ERR_OBJECT_TOO_LARGE";
}

export class EbpfMapReconciler {
  private readonly checkObject: ObjectCheck;
  /** Violations by `hash cpus enforcement`; the enforcement objects are shared per grant (enforcementOf). */
  private readonly checks = new Map<string, { enforcement: LoadEnforcement; violations: Violation[] }>();
  /** Compiles run beside the loop; the object is checked against the policy and published by the reconcile that takes it. */
  private readonly compiles: CompileTracker<CompiledObject>;
  private readonly outstanding: FairScheduler;
  /**
   * The last objects compiled, by namespace and source: an EbpfMap whose code another one of its
   * namespace compiled a moment ago takes that object in the same reconcile (checked against the
   * policy and published like any compile's outcome), without a compile request, a wait in the
   * fair queue or a second reconcile. Per namespace, so a namespace's resources never wait for
   * or learn of another's compiles (the compiler's content-addressed cache is shared).
   */
  private readonly compiledSources = new Map<string, { compiled: CompiledObject; at: number }>();

  constructor(private readonly deps: ReconcilerDependencies) {
    this.checkObject =
      deps.checkObject ?? (async (spec, bytes, enforcement, cpus) => checkCompiledObject(deps.plugins, spec, await bytes(), enforcement, cpus));
    this.compiles = new CompileTracker<CompiledObject>((key) => deps.requeue?.(key), isProgramsFault);
    // A hard cap: a request to the compiler cannot be taken back, and 2 per namespace already keep
    // the compiler's 2 slots busy (its own queue is work-conserving).
    this.outstanding = new FairScheduler(deps.outstandingCompiles?.total ?? 8, deps.outstandingCompiles?.perNamespace ?? 2, false);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const resource = this.deps.ebpfMaps.get(key);
    if (!resource) {
      this.compiles.forget(key);
      return {}; // deleted: nothing left to do
    }
    const log = this.deps.logger.child({ namespace: resource.metadata.namespace, ebpfmap: resource.metadata.name });

    if (resource.metadata.deletionTimestamp) return this.finalize(resource, log);
    if (!(resource.metadata.finalizers ?? []).includes(FINALIZER)) {
      await this.deps.writer.patchMetadata(resource, { finalizers: [...(resource.metadata.finalizers ?? []), FINALIZER] });
      return {}; // the update event brings us back
    }

    const generation = resource.metadata.generation ?? 0;
    const status: EbpfMapStatus = structuredClone(resource.status ?? {});
    const conditions = (status.conditions ?? []) as Condition[];
    const policy = this.policyFor(resource.metadata.namespace);
    delete status.policy; // set again by the policy step, if the spec gets that far
    const prepared = await this.prepare(resource, status, policy, conditions, log);
    // Compiling: the status stays as it is until the compile settles and re-queues the resource.
    if ("pending" in prepared) return {};
    if (prepared.ok) {
      setCondition(conditions, {
        type: Conditions.Compiled,
        status: "True",
        reason: Reasons.Compiled,
        message: `object ${prepared.hash.slice(0, 12)} published as ${prepared.configMap}`,
        observedGeneration: generation,
      });
      status.object = { hash: prepared.hash, sha256: prepared.sha256, configMap: prepared.configMap, namespace: this.deps.objects.namespace, generation };
    } else {
      if (prepared.compiled === false) {
        setCondition(conditions, {
          type: Conditions.Compiled,
          status: "False",
          reason: prepared.reason,
          message: prepared.message,
          observedGeneration: generation,
        });
      }
      delete status.object;
    }

    // Only the nodes the policy allows count (and run it: the agents check the same).
    const allNodes = this.deps.nodes.list();
    const allowedNodes = allNodes.filter((n) => nodeRefusal(policy, n) === undefined);
    const summary = summarizeNodes(resource, allowedNodes, this.deps.nodeStatuses.list(), prepared.ok ? prepared.hash : undefined);
    Object.assign(status, nodeCounts(summary));
    if (!prepared.ok) {
      setCondition(conditions, { type: Conditions.Ready, status: "False", reason: prepared.reason, message: prepared.message, observedGeneration: generation });
    } else if (summary.selected.length === 0) {
      const excluded = allNodes.filter((n) => selectsNode(resource.spec.nodeSelector, n)).flatMap((n) => nodeRefusal(policy, n) ?? []);
      setCondition(conditions, {
        type: Conditions.Ready,
        status: "False",
        reason: excluded.length ? Reasons.NodesNotAllowed : Reasons.NoNodesSelected,
        message: excluded.length
          ? `spec.nodeSelector ${JSON.stringify(resource.spec.nodeSelector ?? {})} selects only nodes the policy does not allow: ${excluded.slice(0, 3).join("; ")}`
          : `spec.nodeSelector ${JSON.stringify(resource.spec.nodeSelector ?? {})} matches no node`,
        observedGeneration: generation,
      });
    } else if (summary.ready.length === summary.selected.length) {
      setCondition(conditions, {
        type: Conditions.Ready,
        status: "True",
        reason: Reasons.AllNodesReady,
        message: `running on ${summary.ready.length}/${summary.selected.length} nodes`,
        observedGeneration: generation,
      });
    } else {
      const waiting = summary.pending.length ? `; waiting for ${summary.pending.slice(0, 5).join(", ")}` : "";
      setCondition(conditions, {
        type: Conditions.Ready,
        status: "False",
        reason: summary.failed.length ? Reasons.NodesFailed : Reasons.NodesNotReady,
        message: `running on ${summary.ready.length}/${summary.selected.length} nodes${waiting}`,
        observedGeneration: generation,
      });
    }
    if (summary.failed.length > 0) {
      const first = summary.failed[0]!;
      setCondition(conditions, {
        type: Conditions.Degraded,
        status: "True",
        reason: Reasons.NodesFailed,
        message: `${summary.failed.length} node(s) failed; ${first.node}: ${first.message}`,
        observedGeneration: generation,
      });
    } else {
      setCondition(conditions, {
        type: Conditions.Degraded,
        status: "False",
        reason: Reasons.NoFailures,
        message: "no node reports a failure",
        observedGeneration: generation,
      });
    }
    status.conditions = conditions;
    status.observedGeneration = generation;
    this.recordTransitions(resource, conditions);

    if (stableJson(status) !== stableJson(resource.status ?? {})) {
      await this.deps.writer.patchStatus(resource, status);
      log.debug({ ready: status.ready }, "status updated");
    }
    return !prepared.ok && prepared.requeueAfterMs ? { requeueAfterMs: prepared.requeueAfterMs } : {};
  }

  /** Validation, tenancy and compile+publish; failures here are terminal for this generation. */
  private async prepare(resource: EbpfMapObject, status: EbpfMapStatus, policy: EffectivePolicy, conditions: Condition[], log: Logger): Promise<Preparation> {
    const generation = resource.metadata.generation ?? 0;
    const validation = validateEbpfMapObject({
      apiVersion: resource.apiVersion,
      kind: resource.kind,
      metadata: { name: resource.metadata.name, namespace: resource.metadata.namespace },
      spec: resource.spec,
    });
    if (!validation.ok) return this.terminal(resource, Reasons.InvalidSpec, formatFieldErrors(validation.errors));
    // Every program of the resource (one for the flat spec) is checked the same way.
    for (const program of programsOf(resource.spec)) {
      let registered;
      try {
        registered = this.deps.plugins.forType(program.type);
      } catch (error) {
        return this.terminal(resource, Reasons.UnknownProgramType, describeError(error));
      }
      if (!registered.validateTarget(program.target)) {
        const reasons = (registered.validateTarget.errors ?? []).map((e) => e.message).join("; ");
        return this.terminal(
          resource,
          Reasons.InvalidSpec,
          `${programField(program, "target")} "${program.target}" is not a valid ${program.type} target: ${reasons}`,
        );
      }
      try {
        registered.plugin.parseTarget(program.type, program.target);
      } catch (error) {
        return this.terminal(resource, Reasons.InvalidSpec, describeError(error));
      }
    }
    const siblings = this.deps.ebpfMaps.list().filter((m) => m.metadata.namespace === resource.metadata.namespace);
    const refusal = admit(resource, policy, siblings);
    status.policy = {
      kind: policy.source,
      name: policy.name,
      admitted: refusal === undefined,
      ...(refusal ? { rule: refusal.rule } : {}),
      message: refusal?.message ?? `admitted by ${policy.describe} (${policy.verdictMode} mode)`,
    };
    setCondition(conditions, {
      type: Conditions.Admitted,
      status: refusal ? "False" : "True",
      reason: refusal ? Reasons.PolicyRefused : Reasons.Admitted,
      message: status.policy.message,
      observedGeneration: generation,
    });
    if (refusal) return this.terminal(resource, Reasons.PolicyRefused, refusal.message);
    // The object is checked against the policy's rules as the agent will check it (which trusts
    // no status): on every reconcile, since the policy may have changed since it was compiled.
    const enforcement = enforcementOf(policy);
    const cpus = this.possibleCpus(resource, policy);
    if (status.object && status.object.generation === generation) {
      const { hash, sha256, configMap } = status.object; // compiled once per generation
      let violations: Violation[] | undefined;
      try {
        violations = await this.violations(resource.spec, hash, () => this.deps.objects.fetch(hash, sha256), enforcement, cpus);
      } catch (error) {
        // The published object is gone or unreadable: compile (cached) and publish it again.
        log.warn({ error: describeError(error) }, "checking the published object failed: compiling it again");
      }
      if (violations && violations.length > 0) return this.refuseObject(resource, status, policy, conditions, violations);
      if (violations) return { ok: true, hash, sha256, configMap };
    }
    const label = `${resource.metadata.namespace}/${resource.metadata.name}`;
    const sourceKey = `${resource.metadata.namespace}\0${createHash("sha256").update(resource.spec.code).digest("hex")}`;
    const entry = this.compiledSources.get(sourceKey);
    const remembered = entry && Date.now() - entry.at < REMEMBERED_SOURCE_MS ? entry : undefined;
    const outcome: CompileOutcome<CompiledObject> | undefined = remembered
      ? { ok: true, value: { ...remembered.compiled, cached: true, durationMs: 0, queueWaitMs: 0, clangRunsMs: undefined } }
      : this.compiles.poll(label, resource.spec.code, () =>
          this.outstanding.run(resource.metadata.namespace, () =>
            this.deps.compiler.compile({ source: resource.spec.code, label, tenant: resource.metadata.namespace }),
          ),
        );
    if (outcome === undefined) return { ok: false, pending: true };
    if (remembered)
      this.compiles.forget(label); // a compile started before the object was there is not needed
    else if (outcome.ok) this.rememberSource(sourceKey, outcome.value);
    if (!outcome.ok) {
      const error = outcome.error;
      if (error instanceof CompileError) {
        const result = { ...this.terminal(resource, Reasons.CompileFailed, describeError(error)), compiled: false as const };
        return isSystemFault(error) ? { ...result, requeueAfterMs: 60_000 } : result;
      }
      if (errorCode(error) === "EOP_ERR_OBJECT_TOO_LARGE") return { ...this.terminal(resource, Reasons.ObjectTooLarge, describeError(error)), compiled: false };
      throw error;
    }
    const compiled = outcome.value;
    // Checked before it is published: an object the policy refuses never reaches a ConfigMap.
    let violations: Violation[];
    try {
      violations = await this.violations(resource.spec, compiled.hash, () => Promise.resolve(compiled.object), enforcement, cpus);
    } catch (error) {
      // An object the inspector cannot read is refused by every agent too.
      if (errorCode(error) === "EOP_ERR_OBJECT_INVALID") return { ...this.terminal(resource, Reasons.ObjectRefused, describeError(error)), compiled: false };
      throw error;
    }
    if (violations.length > 0) return this.refuseObject(resource, status, policy, conditions, violations);
    try {
      return { ok: true, ...(await this.publish(resource, compiled, log)) };
    } catch (error) {
      if (errorCode(error) === "EOP_ERR_OBJECT_TOO_LARGE") return { ...this.terminal(resource, Reasons.ObjectTooLarge, describeError(error)), compiled: false };
      throw error;
    }
  }

  private rememberSource(key: string, compiled: CompiledObject): void {
    this.compiledSources.delete(key);
    if (this.compiledSources.size >= MAX_REMEMBERED_SOURCES) this.compiledSources.delete(this.compiledSources.keys().next().value!);
    this.compiledSources.set(key, { compiled, at: Date.now() });
  }

  /** Publishes a checked object for the agents. */
  private async publish(resource: EbpfMapObject, compiled: CompiledObject, log: Logger): Promise<Published> {
    const published = await this.deps.objects.publishBytes(compiled.hash, compiled.object);
    log.info(
      {
        hash: compiled.hash.slice(0, 12),
        cached: compiled.cached,
        configMap: published.name,
        durationMs: compiled.durationMs,
        queueWaitMs: compiled.queueWaitMs,
        clangRunsMs: compiled.clangRunsMs,
      },
      "compiled and published",
    );
    void this.deps.events.record(resource, "Normal", Reasons.Compiled, `compiled to object ${compiled.hash.slice(0, 12)}, published as ${published.name}`);
    return { hash: compiled.hash, sha256: published.sha256, configMap: published.name };
  }

  /** The object's violations of `enforcement`, remembered per object, enforcement and CPU count. */
  private async violations(
    spec: EbpfMapSpec,
    hash: string,
    bytes: () => Promise<Uint8Array>,
    enforcement: LoadEnforcement,
    cpus: number,
  ): Promise<Violation[]> {
    // The spec's programs (each one's name, type and target) decide what is checked, not only the object.
    const key = JSON.stringify([hash, cpus, programsOf(spec).map((p) => [p.program, p.type, p.target])]);
    const remembered = this.checks.get(key);
    if (remembered?.enforcement === enforcement) return remembered.violations;
    const violations = await this.checkObject(spec, bytes, enforcement, cpus);
    if (this.checks.size >= MAX_REMEMBERED_CHECKS) this.checks.delete(this.checks.keys().next().value!);
    this.checks.delete(key);
    this.checks.set(key, { enforcement, violations });
    return violations;
  }

  /** The object breaks the policy's rules: refused like an admission refusal (Admitted=False, PolicyRefused), nothing published. */
  private refuseObject(resource: EbpfMapObject, status: EbpfMapStatus, policy: EffectivePolicy, conditions: Condition[], violations: Violation[]): Failure {
    const refusal: Refusal = objectRefusal(policy, violations);
    status.policy = { kind: policy.source, name: policy.name, admitted: false, rule: refusal.rule, message: refusal.message };
    setCondition(conditions, {
      type: Conditions.Admitted,
      status: "False",
      reason: Reasons.PolicyRefused,
      message: refusal.message,
      observedGeneration: resource.metadata.generation ?? 0,
    });
    return this.terminal(resource, Reasons.PolicyRefused, refusal.message);
  }

  /**
   * CPUs per-CPU maps are counted for: the most any node the resource may run on has (its
   * capacity; the agent counts its own node's possible CPUs, the final word), at least 1.
   */
  private possibleCpus(resource: EbpfMapObject, policy: EffectivePolicy): number {
    let cpus = 1;
    for (const node of this.deps.nodes.list()) {
      if (!selectsNode(resource.spec.nodeSelector, node) || nodeRefusal(policy, node) !== undefined) continue;
      const capacity = Number.parseInt(node.status?.capacity?.cpu ?? "", 10);
      if (Number.isFinite(capacity) && capacity > cpus) cpus = capacity;
    }
    return cpus;
  }

  private terminal(resource: EbpfMapObject, reason: string, message: string): Failure {
    const previous = resource.status?.conditions?.find((c) => c.type === Conditions.Ready);
    if (previous?.reason !== reason || previous.message !== message || previous.observedGeneration !== resource.metadata.generation) {
      void this.deps.events.record(resource, "Warning", reason, message);
    }
    return { ok: false, reason, message };
  }

  /**
   * Events for what the nodes report (terminal spec problems are recorded where they are found):
   * a node selector that matches nothing, node failures with the first node's message, and
   * becoming ready.
   */
  private recordTransitions(resource: EbpfMapObject, conditions: Condition[]): void {
    const previous = new Map((resource.status?.conditions ?? []).map((c) => [c.type, c]));
    const ready = conditions.find((c) => c.type === Conditions.Ready)!;
    const degraded = conditions.find((c) => c.type === Conditions.Degraded)!;
    const wasReady = previous.get(Conditions.Ready);
    if (ready.reason !== wasReady?.reason) {
      if (ready.reason === Reasons.NoNodesSelected) void this.deps.events.record(resource, "Warning", ready.reason, ready.message);
      if (ready.reason === Reasons.AllNodesReady) void this.deps.events.record(resource, "Normal", "Ready", ready.message);
    }
    if (degraded.status === "True" && previous.get(Conditions.Degraded)?.message !== degraded.message) {
      void this.deps.events.record(resource, "Warning", Reasons.NodesFailed, degraded.message);
    }
  }

  private policyFor(namespace: string): EffectivePolicy {
    return currentPolicy(namespace, this.deps);
  }

  /** Deletion: wait until no agent reports the resource any more, then drop the finalizer. */
  private async finalize(resource: EbpfMapObject, log: Logger): Promise<ReconcileResult> {
    if (!(resource.metadata.finalizers ?? []).includes(FINALIZER)) return {};
    const remaining = this.deps.nodeStatuses
      .list()
      .filter((s) => s.metadata.namespace === resource.metadata.namespace && s.spec.ebpfMap === resource.metadata.name)
      .map((s) => s.spec.nodeName);
    const since = Date.now() - new Date(resource.metadata.deletionTimestamp!).getTime();
    const timeout = this.deps.unloadTimeoutMs ?? 60_000;
    if (remaining.length > 0 && since < timeout) return { requeueAfterMs: 2_000 };
    if (remaining.length > 0) {
      void this.deps.events.record(
        resource,
        "Warning",
        "UnloadUnconfirmed",
        `nodes did not confirm the unload within ${timeout / 1000}s: ${remaining.join(", ")}`,
      );
    }
    await this.deps.writer.patchMetadata(resource, { finalizers: (resource.metadata.finalizers ?? []).filter((f) => f !== FINALIZER) });
    log.info({ unconfirmed: remaining }, "finalizer removed");
    return {};
  }
}

/** JSON with object keys sorted: equal statuses compare equal whatever order their fields were set in. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

/** EbpfMapWriter over the API server (merge patches through the custom-objects API). */
export class KubeEbpfMapWriter implements EbpfMapWriter {
  private readonly custom: CustomObjectsApi;

  constructor(kubeConfig: KubeConfig) {
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  async patchMetadata(resource: EbpfMapObject, metadata: { finalizers: string[] }): Promise<void> {
    try {
      await this.custom.patchNamespacedCustomObject(
        {
          group: API_GROUP,
          version: API_VERSION,
          namespace: resource.metadata.namespace,
          plural: EBPFMAP_PLURAL,
          name: resource.metadata.name,
          // resourceVersion makes the merge patch conditional: no lost update of finalizers.
          body: { metadata: { ...metadata, resourceVersion: resource.metadata.resourceVersion } },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async patchStatus(resource: EbpfMapObject, status: EbpfMapStatus): Promise<void> {
    try {
      await this.custom.patchNamespacedCustomObjectStatus(
        {
          group: API_GROUP,
          version: API_VERSION,
          namespace: resource.metadata.namespace,
          plural: EBPFMAP_PLURAL,
          name: resource.metadata.name,
          // Fields the new status drops (a withdrawn object, a policy rule) must be removed.
          body: { status: mergePatch(resource.status ?? {}, status) },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}
