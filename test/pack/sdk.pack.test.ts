/**
 * The SDK as an outsider gets it: the packed tarballs of @ebpf-operator/libbpf and
 * @ebpf-operator/core and of a third-party plugin (examples/plugin-uprobe), installed with npm
 * into a scratch project outside the workspace (no workspace links, no tsconfig paths), then:
 * the plugin conformance suite runs there against the installed packages, the native addon
 * exists once (libbpf is a peer of core and the plugin, not a copy each), the BPF headers and
 * LICENSE are in the packed core, and publint and are-the-types-wrong pass on each tarball.
 *
 * Slow (npm install from the cache, a node-gyp build of the addon): its own vitest project.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;
const bin = (name: string) => join(root, "node_modules", ".bin", name);
const PACKAGES = ["packages/libbpf", "packages/core", "examples/plugin-uprobe"];

let scratch: string;
let tarballs: string[];

async function sh(file: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(file, args, {
      cwd,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, npm_config_nodedir: "/usr", npm_config_update_notifier: "false" },
    });
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(" ")} failed in ${cwd}:\n${e.stdout ?? ""}\n${e.stderr ?? ""}`, { cause: error });
  }
}

/** The file list of a tarball. */
async function listing(tarball: string): Promise<string[]> {
  return (await sh("tar", ["-tzf", tarball], scratch)).split("\n").filter(Boolean);
}

describe("the packed SDK in a project outside the workspace", () => {
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), `eop-pack-${process.pid}-`));
    const packs = join(scratch, "tarballs");
    mkdirSync(packs);
    tarballs = [];
    for (const pkg of PACKAGES) {
      const out = JSON.parse(await sh("npm", ["pack", "--json", "--pack-destination", packs], join(root, pkg))) as { filename: string }[];
      tarballs.push(join(packs, out[0]!.filename));
    }
    const project = join(scratch, "project");
    mkdirSync(project);
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({
        name: "eop-pack-smoke",
        private: true,
        type: "module",
        // The addon's build and esbuild's (vitest) are the only install scripts allowed.
        allowScripts: { "@ebpf-operator/libbpf": true, esbuild: true },
      }),
    );
    writeFileSync(
      join(project, "conformance.test.js"),
      `import { describePluginConformance } from "@ebpf-operator/core/testing";
import plugin from "ebpf-operator-plugin-uprobe";
describePluginConformance(plugin, {
  validTargets: [
    { type: "uprobe", target: "/usr/bin/bash:readline" },
    { type: "uretprobe", target: "uretprobe//lib/x86_64-linux-gnu/libc.so.6:malloc" },
  ],
  invalidTargets: [
    { type: "uprobe", target: "relative/bash:readline" },
    { type: "uretprobe", target: "bash:readline+4", schemaAccepts: true },
  ],
});
`,
    );
    const vitest = JSON.parse(await sh("node", ["-p", "JSON.stringify(require('vitest/package.json').version)"], root)) as string;
    await sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...tarballs, `vitest@${vitest}`], project);
  }, 600_000);

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("runs the plugin conformance suite against the installed packages", async () => {
    const out = await sh(join(scratch, "project", "node_modules", ".bin", "vitest"), ["run", "--reporter=json"], join(scratch, "project"));
    const report = JSON.parse(out) as { numPassedTests: number; numFailedTests: number };
    expect(report.numFailedTests).toBe(0);
    expect(report.numPassedTests).toBeGreaterThan(10);
  });

  it("installs one libbpf and one native addon: core and the plugin share the peer", async () => {
    const project = join(scratch, "project");
    const copies = (await sh("find", ["node_modules", "-path", "*/@ebpf-operator/libbpf/package.json"], project)).split("\n").filter(Boolean);
    expect(copies).toEqual(["node_modules/@ebpf-operator/libbpf/package.json"]);
    const addons = (await sh("find", ["node_modules", "-path", "*/build/Release/ebpf_libbpf.node"], project)).split("\n").filter(Boolean);
    expect(addons).toEqual(["node_modules/@ebpf-operator/libbpf/build/Release/ebpf_libbpf.node"]);
    const nested = readdirSync(join(project, "node_modules", "@ebpf-operator", "core")).includes("node_modules");
    expect(nested).toBe(false);
  });

  it("packs the BPF headers and the LICENSE into core", async () => {
    const files = await listing(tarballs[1]!);
    expect(files).toContain("package/include/ebpf-operator/prelude.h");
    expect(files).toContain("package/include/ebpf-operator/histogram.h");
    expect(files).toContain("package/LICENSE");
    expect(files).toContain("package/dist/sdk.d.ts");
    for (const tarball of tarballs) expect(await listing(tarball)).toContain("package/LICENSE");
  });

  it("passes publint and are-the-types-wrong on every tarball", async () => {
    for (const tarball of tarballs) {
      await sh(bin("publint"), ["run", "--strict", tarball], scratch);
      // ESM-only packages: the CommonJS require() resolutions are not offered.
      await sh(bin("attw"), [tarball, "--profile", "esm-only", "--format", "ascii"], scratch);
    }
  });
});
