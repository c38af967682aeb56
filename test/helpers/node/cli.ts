/**
 * `npm run cluster`: a local one-node cluster with the operator installed from the images built
 * here, the way kind gives one (docs/kube-node.md). Builds what is missing (cached), starts the
 * cluster, applies deploy/operator.yaml, waits until the operator and the agent are Ready, prints
 * how to reach it, and keeps it until Ctrl-C, when everything is torn down (pods, mounts,
 * namespaces, cgroups, state).
 *
 *   npm run cluster                      # then, in another shell, the printed `export KUBECONFIG=...`
 *   npm run cluster -- --no-operator     # just the cluster
 *
 * Run through esbuild by scripts/cluster.sh (plain Node cannot run TypeScript on Node 20).
 */
import { join } from "node:path";
import { repoRoot } from "../kube/control-plane.js";
import { startNodeCluster } from "./cluster.js";

async function main(): Promise<void> {
  const withOperator = !process.argv.includes("--no-operator");
  const cluster = await startNodeCluster({ forwards: { prometheus: "127.0.0.1:9090" } });
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write("\n[cluster] tearing down...\n");
    await cluster.stop();
    process.stderr.write("[cluster] stopped: processes, namespaces, mounts, cgroups and the run directory removed\n");
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));
  try {
    if (withOperator) {
      process.stderr.write("[cluster] kubectl apply --server-side -f deploy/operator.yaml\n");
      await cluster.kubectlOk(["apply", "--server-side", "-f", join(repoRoot, "deploy/operator.yaml")], { timeoutMs: 120_000 });
      await cluster.kubectlOk(["rollout", "status", "-n", "ebpf-operator-system", "deployment/ebpf-operator", "--timeout=300s"], { timeoutMs: 310_000 });
      await cluster.kubectlOk(["rollout", "status", "-n", "ebpf-operator-system", "daemonset/ebpf-operator-agent", "--timeout=300s"], { timeoutMs: 310_000 });
    }
  } catch (error) {
    process.stderr.write(`[cluster] ${(error as Error).message}\n`);
    await stop(1);
    return;
  }
  const kubectl = join(cluster.binDir, "kubectl");
  process.stdout.write(`
The cluster is up: one node (${cluster.nodeName}, ${cluster.nodeIp}) in its own namespaces${withOperator ? ", the operator and the agent Ready" : ""}.

  export KUBECONFIG=${cluster.kubeconfig}
  alias kubectl=${kubectl}        # the kubectl built for it (any kubectl works)
  kubectl get pods -A
  kubectl label namespace default observability.cloud/allow-kernel-wide-programs=true
  kubectl apply -f examples/execve-tracepoint.yaml
  kubectl get ebpfmap
  # The agent serves HTTPS and wants a token with the metrics-reader role (docs/prometheus-grafana.md):
  kubectl create serviceaccount reader -n ebpf-operator-system
  kubectl create clusterrolebinding reader --clusterrole=ebpf-operator-metrics-reader --serviceaccount=ebpf-operator-system:reader
  kubectl get configmap ebpf-operator-serving-ca -n ebpf-operator-system -o jsonpath='{.data.ca\\.crt}' > /tmp/ebpf-ca.crt
  sudo nsenter --target ${cluster.initPid} --net curl --cacert /tmp/ebpf-ca.crt \\
    --resolve ebpf-operator-agent-metrics.ebpf-operator-system.svc:9442:${cluster.nodeIp} \\
    -H "Authorization: Bearer $(kubectl create token reader -n ebpf-operator-system)" \\
    https://ebpf-operator-agent-metrics.ebpf-operator-system.svc:9442/metrics | grep execve

Images: ${Object.values(cluster.images)
    .map((i) => i.ref)
    .join(", ")} (imported into the node's containerd).
Logs of every component: ${cluster.dir}/*.log
Ctrl-C tears everything down.
`);
  await new Promise(() => undefined);
}

void main();
