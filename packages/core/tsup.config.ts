import { defineConfig } from "tsup";

export default defineConfig({
  // testing: the plugin conformance suite, @ebpf-operator/core/testing.
  entry: { index: "src/index.ts", cli: "src/cli.ts", testing: "src/testing/index.ts" },
  format: ["esm"],
  target: "node20",
  dts: { entry: { index: "src/index.ts", testing: "src/testing/index.ts" } },
  sourcemap: true,
  clean: true,
  // Workspace packages and dependencies stay imports; the addon is loaded at run time.
  external: [/^@ebpf-operator\//],
});
