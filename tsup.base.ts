/**
 * The one tsup configuration of the workspace packages: ESM for Node 20+, declarations, source
 * maps, and other workspace packages left as imports (each package is built and published on
 * its own). A package's tsup.config.ts names only its entries.
 */
import { defineConfig, type Options } from "tsup";

export function packageConfig(entry: string[], overrides: Options = {}) {
  return defineConfig({
    entry,
    format: ["esm"],
    target: "node20",
    platform: "node",
    dts: { entry: entry[0] },
    sourcemap: true,
    clean: true,
    external: [/^@ebpf-operator\//],
    ...overrides,
  });
}
