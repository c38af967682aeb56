import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  target: "node20",
  dts: true,
  sourcemap: true,
  clean: true,
  // Core must stay external: the agent's copy is the one the plugin registers with (its
  // PluginTargetError class, its SDK). libbpf too: one native addon per process.
  external: [/^@ebpf-operator\//],
});
