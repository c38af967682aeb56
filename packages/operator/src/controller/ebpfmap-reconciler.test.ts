/**
 * The operator's reconciler with its dependencies injected: caches are maps, the API writes and
 * Events are recorded, the compiler and the object store are stand-ins. The logic under test —
 * finalizer, validation, tenancy, compile once per generation (beside the loop: a reconcile
 * starts the compile, its settling re-queues the key), node aggregation, deletion — is the
 * reconciler's own; the whole process against a real API server is test/kube.
 */
import type { KubernetesObject, V1Namespace, V1Node } from "@kubernetes/client-node";
import { CompileError, PluginRegistry, PluginTargetError, createLogger, definePlugin, type EbpfMapStatus } from "@ebpf-operator/core";
import { beforeEach, describe, expect, it } from "vitest";
import { Conditions, Reasons } from "../shared/conditions.js";
import { ALLOW_KERNEL_WIDE_LABEL, FINALIZER, type EbpfMapObject, type NodeStatusObject } from "../shared/types.js";
import { EbpfMapReconciler, type Cache, type EbpfMapWriter, type ReconcileResult } from "./ebpfmap-reconciler.js";

class FakeCache<T extends KubernetesObject> implements Cache<T> {
  readonly items = new Map<string, T>();
  constructor(private readonly keyOf: (item: T) => string) {}
  put(...items: T[]): void {
    for (const item of items) this.items.set(this.keyOf(item), item);
  }
  get(key: string): T | undefined {
    return this.items.get(key);
  }
  list(): T[] {
    return [...this.items.values()];
  }
}

/** Applies the reconciler's writes to the cache, as the informer would see them. */
class RecordingWriter implements EbpfMapWriter {
  readonly calls: string[] = [];
  constructor(private readonly cache: FakeCache<EbpfMapObject>) {}
  async patchMetadata(resource: EbpfMapObject, metadata: { finalizers: string[] }): Promise<void> {
    this.calls.push(`metadata ${metadata.finalizers.join(",") || "-"}`);
    this.cache.put({ ...resource, metadata: { ...resource.metadata, finalizers: metadata.finalizers } });
  }
  async patchStatus(resource: EbpfMapObject, status: EbpfMapStatus): Promise<void> {
    this.calls.push("status");
    this.cache.put({ ...resource, status });
  }
}

const kernelWide = definePlugin<string>({
  meta: { name: "test-plugin", version: "1.0.0", apiVersion: 1, programTypes: ["probe"], kernelWide: true },
  targetSchema: { type: "string", pattern: "^[a-z_]+$" },
  parseTarget: (_type, target) => {
    if (target === "reserved") throw new PluginTargetError("EOP_ERR_TARGET_INVALID", `target "${target}" is reserved`);
    return target;
  },
  detectSupport: async () => ({ supported: true }),
  prepare: () => undefined,
  attach: async () => [],
});

const node = (name: string, labels: Record<string, string> = {}): V1Node => ({ metadata: { name, labels } });
const namespace = (name: string, labels: Record<string, string> = {}): V1Namespace => ({ metadata: { name, labels } });

function ebpfMap(overrides: Partial<EbpfMapObject["spec"]> = {}, generation = 1): EbpfMapObject {
  return {
    apiVersion: "observability.cloud/v1",
    kind: "EbpfMap",
    metadata: { name: "counter", namespace: "team-a", generation, uid: "u1", resourceVersion: "1", finalizers: [FINALIZER] },
    spec: { type: "probe", target: "do_sys_open", program: "count", code: "int x;", name: "opens", map: "counts", ...overrides },
  };
}

function nodeStatus(nodeName: string, status: NonNullable<NodeStatusObject["status"]>): NodeStatusObject {
  return {
    apiVersion: "observability.cloud/v1",
    kind: "EbpfMapNodeStatus",
    metadata: { name: `counter.${nodeName}`, namespace: "team-a" },
    spec: { ebpfMap: "counter", nodeName },
    status,
  };
}

describe("EbpfMapReconciler", () => {
  let ebpfMaps: FakeCache<EbpfMapObject>;
  let nodeStatuses: FakeCache<NodeStatusObject>;
  let nodes: FakeCache<V1Node>;
  let namespaces: FakeCache<V1Namespace>;
  let writer: RecordingWriter;
  let events: string[];
  let compiles: string[];
  let compileError: CompileError | undefined;
  let requeued: string[];
  let reconciler: EbpfMapReconciler;
  const key = "team-a/counter";
  const current = () => ebpfMaps.get(key)!;
  const condition = (type: string) => current().status?.conditions?.find((c) => c.type === type);
  /**
   * One reconcile as the work queue runs it: one that starts a compile returns at once and the
   * compile re-queues the key when it settles; the reconcile after that takes its outcome.
   */
  const reconcile = async (): Promise<ReconcileResult> => {
    const first = await reconciler.reconcile(key);
    await new Promise((resolve) => setImmediate(resolve)); // the stand-in compile settles
    if (!requeued.includes(key)) return first;
    requeued = [];
    return reconciler.reconcile(key);
  };

  beforeEach(() => {
    ebpfMaps = new FakeCache((o) => `${o.metadata.namespace}/${o.metadata.name}`);
    nodeStatuses = new FakeCache((o) => `${o.metadata.namespace}/${o.metadata.name}`);
    nodes = new FakeCache((o) => o.metadata!.name!);
    namespaces = new FakeCache((o) => o.metadata!.name!);
    writer = new RecordingWriter(ebpfMaps);
    events = [];
    compiles = [];
    compileError = undefined;
    requeued = [];
    const plugins = new PluginRegistry();
    plugins.register(kernelWide);
    nodes.put(node("n1", { pool: "a" }), node("n2", { pool: "a" }), node("n3", { pool: "b" }));
    namespaces.put(namespace("team-a", { [ALLOW_KERNEL_WIDE_LABEL]: "true" }));
    reconciler = new EbpfMapReconciler({
      writer,
      ebpfMaps,
      nodeStatuses,
      nodes,
      namespaces,
      compiler: {
        compile: async (request) => {
          compiles.push(request.label);
          if (compileError) throw compileError;
          return { object: Buffer.from("ELF"), hash: `hash-of-${request.source.length}`, cached: false, diagnostics: [], durationMs: 1, queueWaitMs: 0 };
        },
      },
      plugins,
      objects: { namespace: "ebpf-system", publishBytes: async (hash) => ({ name: `ebpf-object-${hash}`, sha256: `sha-${hash}` }) },
      events: { record: async (_object, type, reason) => void events.push(`${type} ${reason}`) },
      logger: createLogger({ level: "silent" }),
      unloadTimeoutMs: 60_000,
      requeue: (k) => void requeued.push(k),
    });
  });

  it("adds its finalizer first, and nothing else", async () => {
    ebpfMaps.put({ ...ebpfMap(), metadata: { ...ebpfMap().metadata, finalizers: [] } });
    expect(await reconcile()).toEqual({});
    expect(writer.calls).toEqual([`metadata ${FINALIZER}`]);
    expect(compiles).toEqual([]);
  });

  it("compiles and publishes once per generation, and counts the selected nodes", async () => {
    ebpfMaps.put(ebpfMap({ nodeSelector: { pool: "a" } }));
    await reconcile();
    expect(compiles).toEqual(["team-a/counter"]);
    expect(current().status).toMatchObject({
      object: { hash: "hash-of-6", sha256: "sha-hash-of-6", configMap: "ebpf-object-hash-of-6", namespace: "ebpf-system", generation: 1 },
      ready: "0/2",
      selectedNodes: 2,
    });
    expect(condition(Conditions.Compiled)).toMatchObject({ status: "True", reason: Reasons.Compiled });
    expect(condition(Conditions.Ready)).toMatchObject({ status: "False", reason: Reasons.NodesNotReady, message: "running on 0/2 nodes; waiting for n1, n2" });
    expect(events).toEqual(["Normal Compiled"]);
    // Nothing changed: no compile, no write.
    await reconcile();
    expect(compiles).toHaveLength(1);
    expect(writer.calls).toEqual(["status"]);
  });

  it("is ready when every selected node runs this generation's object; an older report is pending", async () => {
    ebpfMaps.put(ebpfMap());
    await reconcile();
    const hash = current().status!.object!.hash;
    nodeStatuses.put(
      nodeStatus("n1", { phase: "Running", observedGeneration: 1, objectHash: hash }),
      nodeStatus("n2", { phase: "Running", observedGeneration: 1, objectHash: hash }),
      nodeStatus("n3", { phase: "Running", observedGeneration: 0, objectHash: "older" }),
    );
    await reconcile();
    expect(condition(Conditions.Ready)).toMatchObject({ status: "False", reason: Reasons.NodesNotReady, message: "running on 2/3 nodes; waiting for n3" });
    nodeStatuses.put(nodeStatus("n3", { phase: "Running", observedGeneration: 1, objectHash: hash }));
    await reconcile();
    expect(condition(Conditions.Ready)).toMatchObject({ status: "True", reason: Reasons.AllNodesReady });
    expect(current().status?.ready).toBe("3/3");
    expect(events).toContain("Normal Ready");
  });

  it("reports a failing node as Degraded with its message", async () => {
    ebpfMaps.put(ebpfMap());
    await reconcile();
    const hash = current().status!.object!.hash;
    nodeStatuses.put(
      nodeStatus("n2", {
        phase: "Failed",
        observedGeneration: 1,
        objectHash: hash,
        lastError: { code: "EOP_ERR_LOAD_VERIFIER", message: "verifier said no", time: "" },
      }),
    );
    await reconcile();
    expect(condition(Conditions.Degraded)).toMatchObject({ status: "True", reason: Reasons.NodesFailed, message: "1 node(s) failed; n2: verifier said no" });
    expect(current().status?.failures).toEqual([{ node: "n2", phase: "Failed", code: "EOP_ERR_LOAD_VERIFIER", message: "verifier said no" }]);
  });

  it("turns a compile error into a terminal condition and an Event, without an object", async () => {
    compileError = new CompileError("EOP_ERR_COMPILE_FAILED", "clang: error at line 1");
    ebpfMaps.put(ebpfMap());
    expect(await reconcile()).toEqual({});
    expect(condition(Conditions.Compiled)).toMatchObject({ status: "False", reason: Reasons.CompileFailed, message: "clang: error at line 1" });
    expect(condition(Conditions.Ready)).toMatchObject({ status: "False", reason: Reasons.CompileFailed });
    expect(current().status?.object).toBeUndefined();
    expect(events).toEqual(["Warning CompileFailed"]);
  });

  it("does not remember a compile error the installation is to blame for: retried a minute later, and compiled once fixed", async () => {
    compileError = new CompileError("EOP_ERR_COMPILE_SANDBOX_UNAVAILABLE", "bubblewrap was not found");
    ebpfMaps.put(ebpfMap());
    expect(await reconcile()).toEqual({ requeueAfterMs: 60_000 });
    expect(condition(Conditions.Compiled)).toMatchObject({ status: "False", reason: Reasons.CompileFailed, message: "bubblewrap was not found" });
    compileError = undefined;
    expect(await reconcile()).toEqual({});
    expect(compiles).toEqual(["team-a/counter", "team-a/counter"]);
    expect(condition(Conditions.Compiled)).toMatchObject({ status: "True", reason: Reasons.Compiled });
  });

  it("remembers a compile error the program is to blame for: not compiled again until its code changes", async () => {
    compileError = new CompileError("EOP_ERR_COMPILE_TIMEOUT", "macro bomb");
    ebpfMaps.put(ebpfMap());
    await reconcile();
    ebpfMaps.put({ ...current(), metadata: { ...current().metadata, generation: 2 } });
    await reconcile();
    expect(compiles).toEqual(["team-a/counter"]);
    compileError = undefined;
    ebpfMaps.put({ ...current(), metadata: { ...current().metadata, generation: 3 }, spec: { ...current().spec, code: "int y; /* fixed */" } });
    await reconcile();
    expect(compiles).toEqual(["team-a/counter", "team-a/counter"]);
    expect(condition(Conditions.Compiled)).toMatchObject({ status: "True" });
  });

  it("refuses a kernel-wide type in a namespace without the admin's label, and an invalid target, before compiling", async () => {
    namespaces.put(namespace("team-a"));
    ebpfMaps.put(ebpfMap());
    await reconcile();
    expect(condition(Conditions.Ready)).toMatchObject({ reason: Reasons.KernelWideNotAllowed });
    expect(condition(Conditions.Ready)?.message).toContain(`${ALLOW_KERNEL_WIDE_LABEL}=true`);
    namespaces.put(namespace("team-a", { [ALLOW_KERNEL_WIDE_LABEL]: "true" }));
    ebpfMaps.put({ ...current(), spec: { ...current().spec, target: "reserved" } });
    await reconcile();
    expect(condition(Conditions.Ready)).toMatchObject({ reason: Reasons.InvalidSpec, message: 'target "reserved" is reserved' });
    ebpfMaps.put({ ...current(), spec: { ...current().spec, type: "nope" } });
    await reconcile();
    expect(condition(Conditions.Ready)).toMatchObject({ reason: Reasons.UnknownProgramType });
    expect(compiles).toEqual([]);
  });

  it("on deletion waits for the nodes' statuses to go, then drops the finalizer", async () => {
    ebpfMaps.put({ ...ebpfMap(), metadata: { ...ebpfMap().metadata, deletionTimestamp: new Date() } });
    nodeStatuses.put(nodeStatus("n1", { phase: "Running", observedGeneration: 1 }));
    expect(await reconcile()).toEqual({ requeueAfterMs: 2_000 });
    expect(writer.calls).toEqual([]);
    nodeStatuses.items.clear();
    expect(await reconcile()).toEqual({});
    expect(writer.calls).toEqual(["metadata -"]);
  });
});
