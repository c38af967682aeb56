/**
 * Builds the benchmark scripts (bench/src/*.ts) into bench/dist. Packages — the workspace's
 * own included — stay imports, so the benchmarks run the built packages (packages/* /dist) just
 * as the agent and operator CLIs do; the test helpers they share are bundled in.
 */
import { defineConfig } from "tsup";

export default defineConfig({
  entry: [
    "bench/src/scrape.ts",
    "bench/src/scrape-target.ts",
    "bench/src/footprint.ts",
    "bench/src/events.ts",
    "bench/src/operator.ts",
    "bench/src/compile.ts",
    "bench/src/auth.ts",
    "bench/src/tenant.ts",
    "bench/src/churn.ts",
    "bench/src/gate.ts",
    "bench/src/report.ts",
  ],
  outDir: "bench/dist",
  format: ["esm"],
  target: "node20",
  platform: "node",
  sourcemap: true,
  clean: true,
  splitting: false,
  // Not the root tsconfig's paths (sources): the built packages, as installed.
  external: [/^@ebpf-operator\//],
  esbuildOptions(options) {
    options.packages = "external";
  },
});
