/**
 * A token that may read every agent's and the operator's metrics, as the cluster's Prometheus
 * has: a service account bound cluster-wide to the install's ebpf-operator-metrics-reader rules
 * (deploy/manifests/23-rbac-metrics-readers.yaml, under a name of the caller's), token from
 * TokenRequest. `remove` deletes what it made.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { repoRoot, type ControlPlaneHandle } from "./control-plane.js";

export async function metricsReaderToken(cp: ControlPlaneHandle, namespace: string, name: string): Promise<{ token: string; remove(): Promise<void> }> {
  const role = parseAllDocuments(readFileSync(join(repoRoot, "deploy/manifests/23-rbac-metrics-readers.yaml"), "utf8"))
    .map((d) => d.toJSON() as { kind: string; metadata: { name: string }; rules: unknown })
    .find((d) => d.kind === "ClusterRole" && d.metadata.name === "ebpf-operator-metrics-reader")!;
  await cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify({ ...role, metadata: { name } }) });
  await cp.kubectlOk(["create", "serviceaccount", name, "-n", namespace]);
  await cp.kubectlOk(["create", "clusterrolebinding", name, `--clusterrole=${name}`, `--serviceaccount=${namespace}:${name}`]);
  const token = (await cp.kubectlOk(["create", "token", name, "-n", namespace, "--duration=2h"])).trim();
  return {
    token,
    remove: async () => {
      await cp.kubectl(["delete", "clusterrolebinding", name, "--ignore-not-found"]);
      await cp.kubectl(["delete", "clusterrole", name, "--ignore-not-found"]);
    },
  };
}
