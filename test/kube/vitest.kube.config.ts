/**
 * Stand-alone config for the `kube` tests (a real etcd + kube-apiserver, see
 * docs/kube-testenv.md): `npx vitest run --config test/kube/vitest.kube.config.ts`.
 * The same settings belong in the root vitest.config.ts as the project named `kube`.
 */
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL("../..", import.meta.url));
const alias = [
  {
    find: /^@ebpf-operator\/([a-z0-9-]+)$/,
    replacement: `${root}packages/$1/src/index.ts`,
  },
];

export default defineConfig({
  root,
  resolve: { alias },
  test: {
    name: "kube",
    include: ["test/kube/**/*.kube.test.ts", "packages/*/src/**/*.kube.test.ts"],
    // Builds the binaries (cached) and starts one control plane for the run.
    globalSetup: ["test/helpers/kube/global-setup.ts"],
    // Tests share one API server: run files one at a time.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
