import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Tests import workspace packages from their sources, so no build is needed before `vitest`.
const alias = [
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
          include: ["packages/*/src/**/*.test.ts", "test/unit/**/*.test.ts"],
          exclude: ["**/*.kernel.test.ts", "**/node_modules/**"],
        },
      },
      {
        resolve: { alias },
        test: {
          name: "kernel",
          include: ["packages/*/src/**/*.kernel.test.ts", "test/kernel/**/*.kernel.test.ts"],
          // Kernel tests share bpffs, tracefs and the CPU: run files one at a time.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
