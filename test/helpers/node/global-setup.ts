/**
 * vitest globalSetup for the `node` project: builds what the one-node cluster needs (cached:
 * docs/kube-node.md) and starts ONE cluster for the run; stops it at the end, pass or fail.
 * Test workers reach it through env vars, provided to this project's workers only
 * (test/helpers/project-env.ts says why):
 *
 *   EOP_TEST_KUBECONFIG  admin kubeconfig (127.0.0.1, forwarded into the node)
 *   EOP_TEST_KUBE_BIN    kubectl, helm, kube-testenv
 *   EOP_TEST_KUBE_DIR    the run's directory (PKI, logs, node.json), for attachNodeCluster()
 *
 * EOP_TEST_NODE_KEEP=1 keeps the run's directory (every component's log) after the run.
 */
import type { TestProject } from "vitest/node";
import { ENV_BIN, ENV_DIR, ENV_KUBECONFIG } from "../kube/control-plane.js";
import { startNodeCluster } from "./cluster.js";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startNodeCluster({ forwards: { prometheus: "127.0.0.1:9090" } });
  project.provide("eopTestEnv", { [ENV_KUBECONFIG]: cluster.kubeconfig, [ENV_BIN]: cluster.binDir, [ENV_DIR]: cluster.dir });
  return async () => {
    await cluster.stop();
  };
}
