import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Tests import workspace packages from their sources, so no build is needed before `vitest`.
const alias = [
  // Subpath exports (`@ebpf-operator/core/testing`): packages/<pkg>/src/<subpath>/index.ts.
  {
    find: /^@ebpf-operator\/([a-z0-9-]+)\/([a-z0-9-]+)$/,
    replacement: fileURLToPath(new URL("./packages/$1/src/$2/index.ts", import.meta.url)),
  },
  {
    find: /^@ebpf-operator\/([a-z0-9-]+)$/,
    replacement: fileURLToPath(new URL("./packages/$1/src/index.ts", import.meta.url)),
  },
];

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts", "examples/*/src/**/*.test.ts", "test/unit/**/*.test.ts"],
          exclude: ["**/*.kernel.test.ts", "**/node_modules/**"],
          // Some run the real clang (compiler tests): seconds each, more on a busy CI machine.
          testTimeout: 30_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: "kernel",
          include: ["packages/*/src/**/*.kernel.test.ts", "examples/*/src/**/*.kernel.test.ts", "test/kernel/**/*.kernel.test.ts"],
          // Kernel tests share bpffs, tracefs and the CPU: run files one at a time.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: "kube",
          include: ["test/kube/**/*.kube.test.ts", "packages/*/src/**/*.kube.test.ts"],
          // Builds (cached) and starts one real etcd + kube-apiserver for the run.
          globalSetup: ["test/helpers/kube/global-setup.ts"],
          setupFiles: ["test/helpers/project-env.ts"],
          // The files share one API server (and some the kernel): one at a time.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: "pack",
          include: ["test/pack/**/*.pack.test.ts"],
          // npm install and a node-gyp build in a scratch project outside the workspace.
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: "node",
          include: ["test/node/**/*.node.test.ts"],
          // Builds (cached: Go binaries, images) and starts ONE one-node cluster for the run:
          // etcd, API server, controller-manager, scheduler, kubelet, kube-proxy, containerd.
          globalSetup: ["test/helpers/node/global-setup.ts"],
          setupFiles: ["test/helpers/project-env.ts"],
          // The files share the one node (and its bpffs): one at a time.
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: "vm",
          include: ["test/vm/**/*.vm.test.ts"],
          // One qemu guest at a time: TCG is CPU-bound and the machine has 2 cores.
          fileParallelism: false,
          // Building the guest (first run: kernel download) and booting it under TCG take a while.
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
