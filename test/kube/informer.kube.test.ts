/**
 * The operator's informer against a real API server that restarts: the watch comes back, a
 * resourceVersion from before the restart is answered with 410 Gone and the informer relists,
 * and the cache ends up equal to the server's state. A control plane of its own, since this
 * test restarts it.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@ebpf-operator/core";
import { Informer } from "@ebpf-operator/operator";
import { startControlPlane, type ControlPlane } from "../helpers/kube/control-plane.js";
import { eventually } from "../helpers/kube/resources.js";

interface ConfigMapLike {
  metadata: { name: string; namespace: string; resourceVersion?: string };
}

describe("Informer across API-server restarts", () => {
  let cp: ControlPlane;
  let informer: Informer<ConfigMapLike>;
  const events: string[] = [];

  beforeAll(async () => {
    cp = await startControlPlane();
    await cp.kubectlOk(["create", "namespace", "watched"]);
    await cp.kubectlOk(["create", "configmap", "before", "-n", "watched"]);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cp.kubeconfig);
    informer = new Informer<ConfigMapLike>({
      kubeConfig,
      apiVersion: "v1",
      kind: "ConfigMap",
      path: "/api/v1/namespaces/watched/configmaps",
      fieldSelector: "metadata.namespace=watched",
      logger: createLogger({ level: "silent" }),
    });
    informer.on((event, object) => events.push(`${event}:${object.metadata.name}`));
    await informer.start();
  });

  afterAll(async () => {
    informer?.stop();
    await cp?.stop();
  });

  it("lists what exists and hears changes", async () => {
    expect(informer.list().map((c) => c.metadata.name)).toContain("before");
    await cp.kubectlOk(["create", "configmap", "during", "-n", "watched"]);
    await eventually("the add event", async () => events.includes("add:during"), 15_000);
  });

  it("comes back after the API server restarts, relisting after 410 Gone, and misses nothing", async () => {
    // Writes elsewhere move etcd's revision past the informer's resourceVersion; after the
    // restart the API server's watch cache starts at the new revision, so resuming the old
    // one is answered with 410 Gone.
    for (let i = 0; i < 5; i++) await cp.kubectlOk(["create", "configmap", `elsewhere-${i}`, "-n", "default"]);
    const relistsBefore = informer.stats.relists;
    await cp.restartApiServer(1_500);
    await cp.kubectlOk(["create", "configmap", "after", "-n", "watched"]);
    await cp.kubectlOk(["delete", "configmap", "before", "-n", "watched"]);
    await eventually(
      "the cache to match the server",
      async () => {
        const names = informer
          .list()
          .map((c) => c.metadata.name)
          .sort();
        return names.join(",") === "after,during";
      },
      60_000,
    );
    expect(events).toContain("add:after");
    expect(events).toContain("delete:before");
    expect(informer.stats.relists).toBeGreaterThan(relistsBefore);
  });
});
