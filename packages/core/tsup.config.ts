import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/cli.ts"],
  format: ["esm"],
  target: "node20",
  dts: { entry: "src/index.ts" },
  sourcemap: true,
  clean: true,
  // Workspace packages and dependencies stay imports; the addon is loaded at run time.
  external: [/^@ebpf-operator\//],
});
