/**
 * vitest globalSetup for the `kube` project: builds the control plane binaries (fast when
 * cached) and starts ONE etcd + kube-apiserver for the whole run; stops it at the end, pass or
 * fail. Tests reach it through env vars, provided to this project's workers only
 * (test/helpers/project-env.ts says why):
 *
 *   EOP_TEST_KUBECONFIG  admin kubeconfig (system:masters)
 *   EOP_TEST_KUBE_BIN    dir with kube-testenv and kubectl (and helm, when built)
 *   EOP_TEST_KUBE_DIR    the control plane's temp dir (PKI, logs), for attachControlPlane()
 *
 * Set EOP_TEST_KUBE_BIN beforehand to use prebuilt binaries and skip the build;
 * EOP_TEST_KUBE_KEEP=1 keeps the temp dir (logs, certs) after the run.
 */
import { spawn } from "node:child_process";
import type { TestProject } from "vitest/node";
import { join } from "node:path";
import { ENV_BIN, ENV_DIR, ENV_KUBECONFIG, defaultBinDir, repoRoot, startControlPlane } from "./control-plane.js";

function buildBinaries(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [join(repoRoot, "scripts", "build-kube-testenv.sh")], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`scripts/build-kube-testenv.sh exited ${code}`))));
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let binDir = process.env[ENV_BIN];
  if (!binDir) {
    await buildBinaries();
    binDir = defaultBinDir;
  }
  const started = Date.now();
  const cp = await startControlPlane({ binDir });
  console.error(`[kube] control plane up at ${cp.server} in ${Date.now() - started} ms (dir ${cp.dir})`);
  project.provide("eopTestEnv", { [ENV_KUBECONFIG]: cp.kubeconfig, [ENV_BIN]: binDir, [ENV_DIR]: cp.dir });
  return async () => {
    await cp.stop();
  };
}
