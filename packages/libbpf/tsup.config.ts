import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  dts: { compilerOptions: { stripInternal: true } },
  target: "node20",
  platform: "node",
  clean: true,
  sourcemap: true,
  external: ["node-addon-api"],
});
