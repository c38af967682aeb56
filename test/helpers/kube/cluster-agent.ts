/** The built CLI's cluster agent (`ebpf-operator agent`) as the kube tests start it. */
import { join } from "node:path";
import { startLoggedProcess, type LoggedProcess } from "../node-process.js";

export interface ClusterAgentOptions {
  /** packages/operator/dist/cli.js */
  cli: string;
  node: string;
  kubeconfig: string;
  /** The operator's namespace (where the compiled objects are). */
  namespace: string;
  pinRoot: string;
  /** The agent's cache goes to `<workDir>/agent-cache`. */
  workDir: string;
  /** Serve HTTPS with these PEM files. */
  tls?: { certFile: string; keyFile: string };
}

export function startClusterAgent(o: ClusterAgentOptions): Promise<LoggedProcess> {
  const tls = o.tls ? ["--tls-cert-file", o.tls.certFile, "--tls-private-key-file", o.tls.keyFile] : [];
  return startLoggedProcess(
    [
      o.cli,
      "agent",
      ...["--node-name", o.node, "--kubeconfig", o.kubeconfig, "--namespace", o.namespace, "--listen", "127.0.0.1:0"],
      ...["--pin-root", o.pinRoot, "--cache-dir", join(o.workDir, "agent-cache"), ...tls],
    ],
    "agent listening",
  );
}
