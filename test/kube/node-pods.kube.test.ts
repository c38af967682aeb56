/**
 * The agent's pod source against a real API server: a metadata-only informer restricted to one
 * node (`spec.nodeName` field selector). No kubelet runs in this project, so the pods stay
 * Pending; they are bound to nodes by `spec.nodeName` as the scheduler would bind them.
 */
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, selectPods } from "@ebpf-operator/core";
import { Informer, NodePodSource } from "@ebpf-operator/operator";
import { attachControlPlane, deleteNamespace, repoRoot } from "../helpers/kube/control-plane.js";
import { tracepointManifest } from "../helpers/manifests.js";
import { eventually } from "../helpers/kube/resources.js";

const cp = attachControlPlane();
const suffix = process.pid;
const alice = `pods-alice-${suffix}`;
const bob = `pods-bob-${suffix}`;
const node = `pod-node-a-${suffix}`;
const otherNode = `pod-node-b-${suffix}`;

const pod = (namespace: string, name: string, nodeName: string, labels: Record<string, string>) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels },
    spec: { nodeName, containers: [{ name: "app", image: "registry.invalid/app:1", env: [{ name: "SECRET_LOOKING", value: "spec-value" }] }] },
  });

describe("NodePodSource: this node's pods, metadata only", () => {
  let source: NodePodSource;
  let changes = 0;

  beforeAll(async () => {
    for (const ns of [alice, bob]) await cp.kubectlOk(["create", "namespace", ns]);
    await cp.kubectlOk(["apply", "-f", "-"], { input: pod(alice, "web-1", node, { app: "web" }) });
    await cp.kubectlOk(["apply", "-f", "-"], { input: pod(alice, "db-1", node, { app: "db" }) });
    await cp.kubectlOk(["apply", "-f", "-"], { input: pod(alice, "web-elsewhere", otherNode, { app: "web" }) });
    await cp.kubectlOk(["apply", "-f", "-"], { input: pod(bob, "web-1", node, { app: "web" }) });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cp.kubeconfig);
    source = new NodePodSource({ kubeConfig, nodeName: node, logger: createLogger({ level: "silent" }) });
    source.onChange(() => changes++);
    await source.start();
  });

  afterAll(async () => {
    source?.stop();
    // Bound pods wait for their (absent) kubelet on a graceful delete: force them out first.
    for (const ns of [alice, bob]) await cp.kubectl(["delete", "pods", "--all", "-n", ns, "--grace-period=0", "--force"]);
    for (const ns of [alice, bob]) await deleteNamespace(cp, ns);
  });

  const names = () =>
    source
      .pods()
      .map((p) => `${p.namespace}/${p.name}`)
      .sort();

  it("lists the pods bound to its node only, in every namespace", () => {
    expect(names()).toEqual([`${alice}/db-1`, `${alice}/web-1`, `${bob}/web-1`]);
  });

  it("asks the API server for metadata only: no spec or status comes over the wire", async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cp.kubeconfig);
    const raw = new Informer<{ metadata?: { name?: string; annotations?: Record<string, string> } }>({
      kubeConfig,
      apiVersion: "v1",
      kind: "Pod",
      path: "/api/v1/pods",
      fieldSelector: `spec.nodeName=${node}`,
      metadataOnly: true,
      logger: createLogger({ level: "silent" }),
    });
    const seen: unknown[] = [];
    raw.on((_, object) => seen.push(object));
    try {
      await raw.start();
      await cp.kubectlOk(["annotate", "pod", "db-1", "-n", alice, "touched=1"]);
      await eventually("a watch event", async () => seen.length > raw.list().length, 15_000);
    } finally {
      raw.stop();
    }
    expect(seen.length).toBeGreaterThan(3);
    for (const object of seen) {
      expect(object).toMatchObject({ apiVersion: "v1", kind: "Pod", metadata: { uid: expect.any(String) } });
      expect(object).not.toHaveProperty("spec");
      expect(object).not.toHaveProperty("status");
    }
  });

  it("caches names, UID and labels only: not even annotations (kubectl's last-applied copy of the spec)", () => {
    const web = source.pods().find((p) => p.namespace === alice && p.name === "web-1")!;
    expect(web.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(web.labels).toEqual({ app: "web" });
    for (const object of source.cachedObjects()) {
      expect(Object.keys(object).sort()).toEqual(["apiVersion", "kind", "metadata"]);
      expect(object.metadata).not.toHaveProperty("annotations");
      expect(object.metadata).not.toHaveProperty("managedFields");
    }
    expect(JSON.stringify(source.cachedObjects())).not.toContain("spec-value");
  });

  it("gives selectPods what it needs: a selector never reaches another namespace", () => {
    const selected = selectPods(source.pods(), alice, { matchLabels: { app: "web" } });
    expect(selected.map((p) => `${p.namespace}/${p.name}`)).toEqual([`${alice}/web-1`]);
  });

  it("the CRD takes spec.selector, and the API server refuses a bad one naming the field", async () => {
    await cp.kubectlOk(["apply", "-f", join(repoRoot, "deploy/crds")]);
    const withSelector = (name: string, selector: string) => `${tracepointManifest({ name, namespace: alice })}  selector:\n${selector}`;
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: withSelector(
        "scoped",
        "    matchLabels:\n      app: web\n    matchExpressions:\n      - { key: tier, operator: In, values: [front] }\n    container: server\n",
      ),
    });
    const stored = JSON.parse(await cp.kubectlOk(["get", "ebpfmap", "scoped", "-n", alice, "-o", "json"])) as { spec: { selector: unknown } };
    expect(stored.spec.selector).toEqual({
      matchLabels: { app: "web" },
      matchExpressions: [{ key: "tier", operator: "In", values: ["front"] }],
      container: "server",
    });
    const badOperator = await cp.kubectl(["apply", "-f", "-"], {
      input: withSelector("bad-operator", "    matchExpressions:\n      - { key: tier, operator: Equals, values: [front] }\n"),
    });
    expect(badOperator.code).not.toBe(0);
    expect(badOperator.stderr).toMatch(/spec\.selector\.matchExpressions\[0\]\.operator: Unsupported value: "Equals"/);
    const otherNamespace = await cp.kubectl(["apply", "-f", "-"], { input: withSelector("bad-field", `    namespace: ${bob}\n`) });
    expect(otherNamespace.code).not.toBe(0);
    expect(otherNamespace.stderr).toMatch(/unknown field "spec\.selector\.namespace"/);
  });

  it("follows churn: a new pod on the node, a relabel, a deletion; pods of other nodes never", async () => {
    const before = changes;
    await cp.kubectlOk(["apply", "-f", "-"], { input: pod(alice, "web-2", node, { app: "web" }) });
    await cp.kubectlOk(["apply", "-f", "-"], { input: pod(alice, "web-3", otherNode, { app: "web" }) });
    await eventually("the new pod", async () => names().includes(`${alice}/web-2`), 15_000);
    await cp.kubectlOk(["label", "pod", "db-1", "-n", alice, "app=web", "--overwrite"]);
    await eventually("the relabel", async () => source.pods().find((p) => p.name === "db-1")?.labels.app === "web", 15_000);
    // No kubelet: the pod has no finalizers and goes at once with a zero grace period.
    await cp.kubectlOk(["delete", "pod", "web-1", "-n", alice, "--grace-period=0", "--force"]);
    await eventually("the deletion", async () => !names().includes(`${alice}/web-1`), 15_000);
    expect(names()).toEqual([`${alice}/db-1`, `${alice}/web-2`, `${bob}/web-1`]);
    expect(changes).toBeGreaterThan(before);
  });

  type StatusList = "containerStatuses" | "initContainerStatuses" | "ephemeralContainerStatuses";
  /** Writes a pod's container statuses (one list: regular by default) as the kubelet would (no kubelet runs here): the status subresource. */
  const setStatus = (namespace: string, name: string, containers: { name: string; id?: string }[], list: StatusList = "containerStatuses") =>
    cp.kubectlOk([
      "patch",
      "pod",
      name,
      "-n",
      namespace,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
          [list]: containers.map((c) => ({
            name: c.name,
            image: "registry.invalid/app:1",
            imageID: "",
            ready: c.id !== undefined,
            restartCount: 0,
            ...(c.id
              ? { containerID: `containerd://${c.id}`, state: { running: { startedAt: new Date().toISOString() } } }
              : { state: { waiting: { reason: "ContainerCreating" } } }),
          })),
        },
      }),
    ]);

  it("container names: no second watch until asked; then each pod's running containers by runtime id, restarts followed, names and ids only cached", async () => {
    expect(source.watchingContainers).toBe(false);
    expect(source.containers(source.pods().find((p) => p.name === "db-1")!.uid)).toBeUndefined();
    const first = "a".repeat(64);
    await setStatus(alice, "db-1", [{ name: "app", id: first }]);
    await setStatus(bob, "web-1", [{ name: "app" }]); // not started yet: no id
    source.watchContainers();
    source.watchContainers(); // idempotent
    expect(source.watchingContainers).toBe(true);
    const db = source.pods().find((p) => p.namespace === alice && p.name === "db-1")!.uid;
    const bobs = source.pods().find((p) => p.namespace === bob && p.name === "web-1")!.uid;
    await eventually("db-1's containers", async () => source.containers(db)?.[0]?.id === first, 15_000);
    expect(source.containers(db)).toEqual([{ name: "app", id: first }]);
    await eventually("bob's pod listed", async () => source.containers(bobs) !== undefined, 15_000);
    expect(source.containers(bobs)).toEqual([]);
    // A restart: the kubelet writes the new instance's id.
    const before = changes;
    const second = "b".repeat(64);
    await setStatus(alice, "db-1", [{ name: "app", id: second }]);
    await eventually("the restarted container's new id", async () => source.containers(db)?.[0]?.id === second, 15_000);
    expect(changes).toBeGreaterThan(before);
    for (const object of source.cachedContainerObjects()) {
      expect(Object.keys(object).sort()).toEqual(["apiVersion", "kind", "metadata", "status"]);
      expect(Object.keys(object.metadata ?? {}).sort()).toEqual(["name", "namespace", "resourceVersion", "uid"]);
      expect(Object.keys(object.status ?? {})).toEqual(["containerStatuses"]);
      for (const status of object.status?.containerStatuses ?? [])
        expect(
          Object.keys(status)
            .filter((k) => (status as Record<string, unknown>)[k] !== undefined)
            .sort(),
        ).toEqual(status.containerID ? ["containerID", "name"] : ["name"]);
    }
    expect(JSON.stringify(source.cachedContainerObjects())).not.toContain("spec-value");
  });

  it("container names of init (a sidecar too) and ephemeral containers, as of regular ones: by runtime id, names and ids only cached", async () => {
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "jobs-1", namespace: alice, labels: { app: "jobs" } },
        spec: {
          nodeName: node,
          initContainers: [
            { name: "migrate", image: "registry.invalid/app:1" },
            { name: "log-shipper", image: "registry.invalid/app:1", restartPolicy: "Always" }, // a sidecar
          ],
          containers: [{ name: "app", image: "registry.invalid/app:1", env: [{ name: "SECRET_LOOKING", value: "spec-value" }] }],
        },
      }),
    });
    // What `kubectl debug` adds: an ephemeral container, through the pod's ephemeralcontainers subresource.
    await cp.kubectlOk(["debug", "jobs-1", "-n", alice, "--image=registry.invalid/debug:1", "--container=debugger", "--attach=false"]);
    const [app, migrate, shipper, debuggerId] = ["c", "d", "e", "f"].map((c) => c.repeat(64));
    await setStatus(
      alice,
      "jobs-1",
      [
        { name: "migrate", id: migrate },
        { name: "log-shipper", id: shipper },
      ],
      "initContainerStatuses",
    );
    await setStatus(alice, "jobs-1", [{ name: "debugger", id: debuggerId }], "ephemeralContainerStatuses");
    await setStatus(alice, "jobs-1", [{ name: "app", id: app }]);
    await eventually("jobs-1 listed", async () => source.pods().some((p) => p.namespace === alice && p.name === "jobs-1"), 15_000);
    const uid = source.pods().find((p) => p.namespace === alice && p.name === "jobs-1")!.uid;
    await eventually("jobs-1's containers of every kind", async () => source.containers(uid)?.length === 4, 15_000);
    expect([...source.containers(uid)!].sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: "app", id: app },
      { name: "debugger", id: debuggerId },
      { name: "log-shipper", id: shipper },
      { name: "migrate", id: migrate },
    ]);
    const cached = source.cachedContainerObjects().find((o) => o.metadata?.uid === uid)!;
    expect(Object.keys(cached.status ?? {}).sort()).toEqual(["containerStatuses", "ephemeralContainerStatuses", "initContainerStatuses"]);
    for (const statuses of Object.values(cached.status ?? {}))
      for (const status of statuses ?? [])
        expect(
          Object.keys(status)
            .filter((k) => (status as Record<string, unknown>)[k] !== undefined)
            .sort(),
        ).toEqual(["containerID", "name"]);
    expect(JSON.stringify(source.cachedContainerObjects())).not.toContain("spec-value");
    expect(JSON.stringify(source.cachedContainerObjects())).not.toContain("registry.invalid");
  });
});
