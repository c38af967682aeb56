/**
 * Stand-alone config for the `vm` tests (the agent inside a qemu guest with a kprobe-capable
 * kernel, see docs/vm-tests.md): `npx vitest run --config test/vm/vitest.vm.config.ts`.
 * The same settings belong in the root vitest.config.ts as the project named `vm`.
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
    name: "vm",
    include: ["test/vm/**/*.vm.test.ts"],
    // One qemu guest at a time: TCG is CPU-bound and the machine has 2 cores.
    fileParallelism: false,
    // Building the guest (first run: kernel download) and booting it under TCG take a while.
    testTimeout: 300_000,
    hookTimeout: 600_000,
  },
});
