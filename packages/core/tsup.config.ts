import { defineConfig } from "tsup";

export default defineConfig({
  // sdk: the plugin API, @ebpf-operator/core/sdk; testing: the plugin conformance suite;
  // compile-host: the compiler without the agent runtime, for the operator's compile server.
  entry: {
    index: "src/index.ts",
    cli: "src/cli.ts",
    sdk: "src/sdk/index.ts",
    testing: "src/testing/index.ts",
    "compile-host": "src/compile-host/index.ts",
  },
  format: ["esm"],
  target: "node20",
  dts: {
    entry: { index: "src/index.ts", sdk: "src/sdk/index.ts", testing: "src/testing/index.ts", "compile-host": "src/compile-host/index.ts" },
  },
  sourcemap: true,
  clean: true,
  // Workspace packages and dependencies stay imports; the addon is loaded at run time.
  external: [/^@ebpf-operator\//],
});
