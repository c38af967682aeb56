/**
 * The operator's reconciler with its dependencies injected: caches are maps, the API writes and
 * Events are recorded, the compiler and the object store are stand-ins. The logic under test —
 * finalizer, validation, tenancy, compile once per generation (beside the loop: a reconcile
 * starts the compile, its settling re-queues the key), the object checked against the policy's
 * rules before it is published, node aggregation, deletion — is the reconciler's own. The object
 * check itself (inspection, plugins, rules) is core's, tested on clang-compiled objects in
 * test/unit/planned-programs.test.ts; the whole process against a real API server is test/kube.
 */
import type { KubernetesObject, V1Namespace, V1Node } from "@kubernetes/client-node";
import { CompileError, PluginRegistry, PluginTargetError, createLogger, definePlugin, type EbpfMapStatus, type Violation } from "@ebpf-operator/core";
import { beforeEach, describe, expect, it } from "vitest";
import { Conditions, Reasons } from "../shared/conditions.js";
import type { PolicyObject } from "../shared/tenancy-policy.js";
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
  let policies: FakeCache<PolicyObject>;
  let writer: RecordingWriter;
  let events: string[];
  let compiles: string[];
  let compileError: CompileError | undefined;
  /** Object checks: the bytes read (`compiled` from the compiler, `fetched` from the store), the helpers granted by name, CPUs. */
  let checks: string[];
  let fetches: number;
  let fetchFails: boolean;
  let publishes: number;
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
    policies = new FakeCache((o) => o.metadata.name);
    writer = new RecordingWriter(ebpfMaps);
    events = [];
    compiles = [];
    compileError = undefined;
    checks = [];
    fetches = 0;
    fetchFails = false;
    publishes = 0;
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
      policies,
      compiler: {
        compile: async (request) => {
          compiles.push(request.label);
          if (compileError) throw compileError;
          return { object: Buffer.from("compiled"), hash: `hash-of-${request.source.length}`, cached: false, diagnostics: [], durationMs: 1, queueWaitMs: 0 };
        },
      },
      plugins,
      objects: {
        namespace: "ebpf-system",
        publishBytes: async (hash) => {
          publishes++;
          return { name: `ebpf-object-${hash}`, sha256: `sha-${hash}` };
        },
        fetch: async () => {
          fetches++;
          if (fetchFails) throw new Error("configmaps not found");
          return Buffer.from("fetched");
        },
      },
      // Stands in for checkCompiledObject: code calling bpf_send_signal needs it granted by name.
      checkObject: async (spec, bytes, enforcement, cpus) => {
        const names = enforcement.rules?.helpers.names ?? [];
        checks.push(`${Buffer.from(await bytes()).toString()} [${names.join(",")}] ${cpus}`);
        if (!spec.code.includes("bpf_send_signal") || names.includes("bpf_send_signal")) return [];
        const violation: Violation = {
          rule: "helper",
          program: spec.program,
          helper: "bpf_send_signal",
          message: `program "${spec.program}" calls bpf_send_signal (helper #109) at program.bpf.c:3, which the policy does not grant`,
        };
        return [violation];
      },
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

  it("refuses a node-wide target under the default policy, and an invalid target, before compiling", async () => {
    namespaces.put(namespace("team-a"));
    ebpfMaps.put(ebpfMap());
    await reconcile();
    expect(condition(Conditions.Ready)).toMatchObject({ reason: Reasons.PolicyRefused });
    expect(condition(Conditions.Admitted)).toMatchObject({ status: "False", reason: Reasons.PolicyRefused });
    expect(current().status?.policy).toMatchObject({ kind: "Default", name: "default", admitted: false, rule: "targetScopes" });
    expect(current().status?.policy?.message).toMatch(
      /^refused by the default policy \(no EbpfTenancyPolicy selects namespace "team-a"\), rule targetScopes: spec.target "do_sys_open" of program type probe is node-wide/,
    );
    expect(events).toEqual(["Warning PolicyRefused"]);
    namespaces.put(namespace("team-a", { [ALLOW_KERNEL_WIDE_LABEL]: "true" }));
    ebpfMaps.put({ ...current(), spec: { ...current().spec, target: "reserved" } });
    await reconcile();
    expect(condition(Conditions.Ready)).toMatchObject({ reason: Reasons.InvalidSpec, message: 'target "reserved" is reserved' });
    ebpfMaps.put({ ...current(), spec: { ...current().spec, type: "nope" } });
    await reconcile();
    expect(condition(Conditions.Ready)).toMatchObject({ reason: Reasons.UnknownProgramType });
    expect(compiles).toEqual([]);
  });

  it("names the policy that admitted it, and the label shorthand", async () => {
    ebpfMaps.put(ebpfMap());
    await reconcile();
    expect(current().status?.policy).toEqual({
      kind: "NamespaceLabel",
      name: ALLOW_KERNEL_WIDE_LABEL,
      admitted: true,
      message: `admitted by the namespace label ${ALLOW_KERNEL_WIDE_LABEL}=true (observe mode)`,
    });
    expect(condition(Conditions.Admitted)).toMatchObject({ status: "True", reason: Reasons.Admitted });
    // An explicit policy that selects the namespace wins over the label.
    policies.put({ metadata: { name: "team-a-pods-only" }, spec: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "team-a" } } } });
    await reconcile();
    expect(current().status?.policy).toMatchObject({ kind: "EbpfTenancyPolicy", name: "team-a-pods-only", admitted: false, rule: "targetScopes" });
    expect(condition(Conditions.Ready)?.message).toContain('refused by EbpfTenancyPolicy "team-a-pods-only", rule targetScopes');
  });

  it("takes the EbpfMaps quota in age order: the newest over the quota is refused, and admitted once another goes", async () => {
    policies.put({ metadata: { name: "two" }, spec: { namespaceSelector: {}, targetScopes: ["node"], quotas: { ebpfMaps: 2 } } });
    const at = (name: string, seconds: number): EbpfMapObject => ({
      ...ebpfMap(),
      metadata: { ...ebpfMap().metadata, name, creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)) },
    });
    ebpfMaps.put(at("a", 1), at("b", 2), at("counter", 3));
    await reconcile();
    expect(current().status?.policy).toMatchObject({ admitted: false, rule: "quotas.ebpfMaps" });
    expect(current().status?.policy?.message).toContain('namespace "team-a" may have 2 EbpfMaps, and 2 older ones take the quota');
    ebpfMaps.items.delete("team-a/a");
    await reconcile();
    expect(current().status?.policy).toMatchObject({ admitted: true });
    expect(compiles).toEqual(["team-a/counter"]);
  });

  it("refuses code over the quota and program types the policy leaves out", async () => {
    policies.put({ metadata: { name: "small" }, spec: { namespaceSelector: {}, targetScopes: ["node"], quotas: { codeBytes: 4 } } });
    ebpfMaps.put(ebpfMap());
    await reconcile();
    expect(current().status?.policy).toMatchObject({ rule: "quotas.codeBytes", message: expect.stringContaining("spec.code is 6 bytes; the quota is 4") });
    policies.put({ metadata: { name: "small" }, spec: { namespaceSelector: {}, targetScopes: ["node"], programTypes: ["xdp"] } });
    await reconcile();
    expect(current().status?.policy).toMatchObject({
      rule: "programTypes",
      message: expect.stringContaining('spec.type "probe" is not allowed (allowed: xdp)'),
    });
  });

  it("keeps programs off control-plane nodes unless the policy allows them, and says so", async () => {
    nodes.items.clear();
    nodes.put(node("cp-1", { "node-role.kubernetes.io/control-plane": "" }), node("w-1"));
    ebpfMaps.put(ebpfMap({ nodeSelector: { "node-role.kubernetes.io/control-plane": "" } }));
    await reconcile();
    expect(condition(Conditions.Ready)).toMatchObject({ reason: Reasons.NodesNotAllowed });
    expect(condition(Conditions.Ready)?.message).toContain('rule nodes.controlPlane: node "cp-1" is a control-plane node');
    expect(current().status?.selectedNodes).toBe(0);
    policies.put({ metadata: { name: "admins" }, spec: { namespaceSelector: {}, targetScopes: ["node"], nodes: { controlPlane: true } } });
    await reconcile();
    expect(current().status?.selectedNodes).toBe(1);
  });

  it("refuses an object calling a helper the policy does not grant, naming it, and publishes it once the policy grants it", async () => {
    const grant = (names: string[]) =>
      policies.put({ metadata: { name: "signals" }, spec: { namespaceSelector: {}, targetScopes: ["node"], verdictMode: "enforce", helpers: { names } } });
    grant([]);
    ebpfMaps.put(ebpfMap({ code: "bpf_send_signal(9);" }));
    await reconcile();
    const refusal =
      'refused by EbpfTenancyPolicy "signals", rule helpers: the compiled object breaks the policy\'s rules: program "count" calls bpf_send_signal';
    expect(current().status?.policy).toMatchObject({ kind: "EbpfTenancyPolicy", name: "signals", admitted: false, rule: "helpers" });
    expect(current().status?.policy?.message).toContain(refusal);
    expect(condition(Conditions.Admitted)).toMatchObject({ status: "False", reason: Reasons.PolicyRefused, message: expect.stringContaining(refusal) });
    expect(condition(Conditions.Ready)).toMatchObject({ status: "False", reason: Reasons.PolicyRefused, message: expect.stringContaining(refusal) });
    expect(current().status?.object).toBeUndefined();
    expect(publishes).toBe(0);
    expect(events).toEqual(["Warning PolicyRefused"]);
    // Nothing changed: no compile, no check, no write.
    await reconcile();
    expect(checks).toEqual(["compiled [] 1"]);
    grant(["bpf_send_signal"]);
    await reconcile();
    expect(checks).toEqual(["compiled [] 1", "compiled [bpf_send_signal] 1"]);
    expect(current().status?.policy).toMatchObject({ admitted: true });
    expect(condition(Conditions.Admitted)).toMatchObject({ status: "True", reason: Reasons.Admitted });
    expect(current().status?.object).toMatchObject({ generation: 1 });
    expect(publishes).toBe(1);
  });

  it("checks a published object again when the policy changes, from the store, and refuses it at once", async () => {
    policies.put({ metadata: { name: "signals" }, spec: { namespaceSelector: {}, targetScopes: ["node"], helpers: { names: ["bpf_send_signal"] } } });
    ebpfMaps.put(ebpfMap({ code: "bpf_send_signal(9);" }));
    await reconcile();
    expect(current().status?.object).toBeDefined();
    await reconcile();
    expect({ compiles: compiles.length, checks: checks.length, fetches }).toEqual({ compiles: 1, checks: 1, fetches: 0 });
    // The grant is taken away: same generation, so the published object is checked (fetched, not compiled).
    policies.put({ metadata: { name: "signals" }, spec: { namespaceSelector: {}, targetScopes: ["node"] } });
    await reconcile();
    expect(checks).toEqual(["compiled [bpf_send_signal] 1", "fetched [] 1"]);
    expect(compiles).toHaveLength(1);
    expect(condition(Conditions.Ready)).toMatchObject({ status: "False", reason: Reasons.PolicyRefused, observedGeneration: 1 });
    expect(current().status?.policy).toMatchObject({ admitted: false, rule: "helpers" });
    expect(current().status?.object).toBeUndefined();
  });

  it("publishes the object again when the published one cannot be read for the check", async () => {
    ebpfMaps.put(ebpfMap());
    await reconcile();
    expect(publishes).toBe(1);
    fetchFails = true;
    policies.put({ metadata: { name: "more-entries" }, spec: { namespaceSelector: {}, targetScopes: ["node"], quotas: { mapEntries: 1 << 20 } } });
    await reconcile();
    // The object compiled a moment ago is still at hand: checked and published again in the same reconcile.
    expect(fetches).toBe(1);
    expect(compiles).toHaveLength(1);
    expect(publishes).toBe(2);
    expect(checks).toEqual(["compiled [] 1", "compiled [] 1"]);
    expect(condition(Conditions.Ready)).toMatchObject({ reason: Reasons.NodesNotReady });
  });

  it("an EbpfMap with code its namespace compiled a moment ago takes that object at once; another namespace compiles its own", async () => {
    ebpfMaps.put(ebpfMap());
    await reconcile();
    expect(compiles).toEqual(["team-a/counter"]);
    const twin = (namespace: string): EbpfMapObject => ({ ...ebpfMap(), metadata: { ...ebpfMap().metadata, name: "twin", namespace } });
    ebpfMaps.put(twin("team-a"));
    // One reconcile, no compile request, nothing re-queued: compiled, checked against the policy, published.
    await reconciler.reconcile("team-a/twin");
    expect(requeued).toEqual([]);
    expect(compiles).toEqual(["team-a/counter"]);
    expect(checks).toEqual(["compiled [] 1"]); // the same object and enforcement: the check is remembered
    expect(publishes).toBe(2);
    expect(ebpfMaps.get("team-a/twin")!.status).toMatchObject({ object: { hash: "hash-of-6", configMap: "ebpf-object-hash-of-6" }, ready: "0/3" });
    // Another namespace never shares the operator's memory of team-a's compiles.
    namespaces.put(namespace("team-b", { [ALLOW_KERNEL_WIDE_LABEL]: "true" }));
    ebpfMaps.put(twin("team-b"));
    expect(await reconciler.reconcile("team-b/twin")).toEqual({});
    expect(compiles).toEqual(["team-a/counter", "team-b/twin"]);
    expect(ebpfMaps.get("team-b/twin")!.status?.object).toBeUndefined();
  });

  it("counts per-CPU maps for the most CPUs of a node the resource may run on", async () => {
    nodes.items.clear();
    const withCpus = (name: string, cpus: string, labels: Record<string, string> = {}): V1Node => ({
      ...node(name, labels),
      status: { capacity: { cpu: cpus } },
    });
    nodes.put(withCpus("small", "2"), withCpus("big", "64", { pool: "b" }), withCpus("cp", "256", { "node-role.kubernetes.io/control-plane": "" }));
    ebpfMaps.put(ebpfMap());
    await reconcile();
    expect(checks).toEqual(["compiled [] 64"]); // not the control-plane node's 256: the policy keeps it off there
    ebpfMaps.put(ebpfMap({ nodeSelector: { pool: "a" } }, 2));
    await reconcile();
    expect(checks.at(-1)).toBe("compiled [] 1"); // selects no node
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
