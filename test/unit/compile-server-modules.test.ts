/**
 * `ebpf-operator compile-server` is a small process: cli.ts imports each command's module only
 * when it runs, and the compile server imports @ebpf-operator/core/compile-host, not the agent
 * runtime. Every clang spawn is a fork of that process, so what it loads is what each compile
 * pays for (docs/compiler.md, "What a compile costs"). Started from the built CLI (setup.sh builds
 * it) with a preload that records every module the process loads: ES modules through a resolve
 * hook, CommonJS ones from the require cache at exit. `run --help` through the same recorder is the
 * control that the recorder does see @kubernetes/client-node when a command loads it.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url).pathname;
const OPERATOR = `${root}packages/operator/dist/cli.js`;
const work = mkdtempSync(join(tmpdir(), `eop-compile-server-modules-${process.pid}-`));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// The preload: a resolve hook (it runs on the loader thread, so it appends to the file itself)
// and, at exit, the CommonJS modules in the require cache.
writeFileSync(
  join(work, "hook.mjs"),
  `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.EOP_MODULES_FILE, result.url + "\\n");
  return result;
}
`,
);
writeFileSync(
  join(work, "record.mjs"),
  `import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
register("./hook.mjs", import.meta.url);
const require = createRequire(import.meta.url);
process.on("exit", () => appendFileSync(process.env.EOP_MODULES_FILE, Object.keys(require.cache).join("\\n") + "\\n"));
`,
);

/** Runs the operator CLI under the recorder until `ready` appears in its output (then SIGTERM) or it exits. */
async function loadedModules(name: string, args: string[], ready?: string): Promise<{ modules: string[]; output: string; code: number | string | null }> {
  const file = join(work, `${name}.modules`);
  writeFileSync(file, "");
  const child = spawn("node", ["--import", join(work, "record.mjs"), OPERATOR, ...args], {
    env: { ...process.env, EOP_MODULES_FILE: file },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let stopped = false;
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    // Once (a second SIGTERM would kill it mid-shutdown), and a moment after the line: the process
    // installs its SIGTERM handler just after printing it, and a signal before that is fatal.
    if (ready && !stopped && output.includes(ready)) {
      stopped = true;
      setTimeout(() => child.kill("SIGTERM"), 1000);
    }
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const code = await new Promise<number | string | null>((resolve) => child.on("exit", (exitCode, signal) => resolve(exitCode ?? signal)));
  return { modules: readFileSync(file, "utf8").split("\n").filter(Boolean), output, code };
}

const KUBE_CLIENT = /node_modules\/@kubernetes\/client-node\//;

// Each case starts a Node process (the compile server also probes clang and the sandbox).
describe("compile-server's loaded modules", { timeout: 90_000 }, () => {
  it("the recorder sees @kubernetes/client-node when a command loads it (`run --help`)", async () => {
    const { modules, code } = await loadedModules("run-help", ["run", "--help"]);
    expect(code).toBe(0);
    expect(modules.some((m) => KUBE_CLIENT.test(m))).toBe(true);
  });

  it("a running compile server never loads the Kubernetes client, the controllers or the agent runtime", async () => {
    const socket = join(work, "compiler.sock");
    const { modules, output, code } = await loadedModules(
      "compile-server",
      ["compile-server", "--socket", socket, "--listen", "127.0.0.1:0", "--cache-dir", join(work, "cache"), "--sandbox", "auto"],
      "compile server listening",
    );
    expect(output).toContain("compile server listening");
    expect(code).toBe(0); // SIGTERM is a clean shutdown
    // It did load what it needs, through the recorder: the slim core entry and prom-client.
    expect(modules.some((m) => m.endsWith("packages/core/dist/compile-host.js"))).toBe(true);
    expect(modules.some((m) => /node_modules\/prom-client\//.test(m))).toBe(true);
    expect(modules.filter((m) => KUBE_CLIENT.test(m))).toEqual([]);
    // The agent runtime's own dependencies (schemas, the DI container) and the core main entry.
    expect(modules.filter((m) => /node_modules\/(@sinclair\/typebox|inversify|@inversifyjs|ajv)\//.test(m))).toEqual([]);
    expect(modules.filter((m) => m.endsWith("packages/core/dist/index.js"))).toEqual([]);
  });
});
