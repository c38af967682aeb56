/**
 * Reading an installed agent's endpoints on the real node as a scraper does: HTTPS verified
 * against the install's CA bundle (the ConfigMap the operator writes) for the agents' Service
 * name, with the token of a service account bound to the install's metrics-reader ClusterRole
 * (TokenRequest). The request runs inside the node (curl), where pod addresses route. The API
 * server's service proxy cannot be used: it does not pass the caller's token on.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeCluster } from "./cluster.js";

export interface AgentReader {
  token: string;
  /** The CA bundle, as a file readable inside the node. */
  caFile: string;
  serverName: string;
  /** The agent pod's address (the node's, host network) and port. */
  target(): Promise<string>;
  /** GET `path` (default /metrics) from the agent; throws unless 200. */
  read(path?: string): Promise<string>;
  remove(): Promise<void>;
}

/** `prefix`: the install's object names (`ebpf-operator`, or `<release>-ebpf-operator` with Helm). */
export async function agentReader(cluster: Omit<NodeCluster, "stop">, namespace: string, prefix: string): Promise<AgentReader> {
  const name = `${prefix}-test-reader`;
  await cluster.kubectlOk(["create", "serviceaccount", name, "-n", namespace]);
  await cluster.kubectlOk(["create", "clusterrolebinding", name, `--clusterrole=${prefix}-metrics-reader`, `--serviceaccount=${namespace}:${name}`]);
  const token = (await cluster.kubectlOk(["create", "token", name, "-n", namespace, "--duration=2h"])).trim();
  const dir = await mkdtemp(join(tmpdir(), "eop-node-reader-"));
  const caFile = join(dir, "ca.crt");
  const serverName = `${prefix}-agent-metrics.${namespace}.svc`;
  let ca = "";
  const target = async () => {
    const pods = JSON.parse(await cluster.kubectlOk(["get", "pods", "-n", namespace, "-l", "app.kubernetes.io/component=agent", "-o", "json"])) as {
      items: { metadata: { deletionTimestamp?: string }; status: { podIP?: string } }[];
    };
    const ip = pods.items.find((p) => !p.metadata.deletionTimestamp && p.status.podIP)?.status.podIP;
    if (!ip) throw new Error(`no running agent pod in ${namespace}`);
    return `${ip}:9442`;
  };
  return {
    token,
    caFile,
    serverName,
    target,
    read: async (path = "/metrics") => {
      // The bundle is written by the operator's leader after it starts: read it when needed.
      const current = (
        JSON.parse(await cluster.kubectlOk(["get", "configmap", `${prefix}-serving-ca`, "-n", namespace, "-o", "json"])) as { data: { "ca.crt": string } }
      ).data["ca.crt"];
      if (current !== ca) await writeFile(caFile, (ca = current));
      const [ip, port] = (await target()).split(":") as [string, string];
      const r = await cluster.exec(
        [
          "curl",
          "-sS",
          "--fail-with-body",
          "--max-time",
          "10",
          "--cacert",
          caFile,
          "--resolve",
          `${serverName}:${port}:${ip}`,
          "-H",
          `Authorization: Bearer ${token}`,
          `https://${serverName}:${port}${path}`,
        ],
        { timeoutMs: 20_000 },
      );
      if (r.code !== 0) throw new Error(`GET ${path} from the agent: curl exited ${r.code}: ${r.stderr.trim()} ${r.stdout.slice(0, 200)}`);
      return r.stdout;
    },
    remove: async () => {
      await cluster.kubectl(["delete", "clusterrolebinding", name, "--ignore-not-found"]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
