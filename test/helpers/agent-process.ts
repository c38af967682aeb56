/**
 * Runs the built `ebpf-agent` CLI as a real process for end-to-end tests: its own config
 * directory, pin root (below /sys/fs/bpf, removed afterwards) and compile cache, listening on a
 * free loopback port.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLoggedProcess, type LoggedProcess, type ProcessOptions } from "./node-process.js";

export const repoRoot = new URL("../../", import.meta.url).pathname;
export const cliPath = join(repoRoot, "packages/core/dist/cli.js");

export interface AgentWorkspace {
  configDir: string;
  pinRoot: string;
  cacheDir: string;
  cleanup(): void;
}

/** A config dir, a pin root and a cache dir for one test file; `cleanup` removes all three. */
export function createWorkspace(label: string): AgentWorkspace {
  const base = mkdtempSync(join(tmpdir(), `eop-${label}-`));
  const pinRoot = `/sys/fs/bpf/eop-test-${label}-${process.pid}-${Date.now().toString(36)}`;
  return {
    configDir: join(base, "config"),
    pinRoot,
    // Shared across test files: compiled objects are content-addressed, so reuse is safe.
    cacheDir: join(tmpdir(), "eop-test-compile-cache"),
    cleanup: () => {
      // Removing the pins detaches whatever a killed agent left attached.
      rmSync(pinRoot, { recursive: true, force: true });
      rmSync(base, { recursive: true, force: true });
    },
  };
}

export type AgentProcess = LoggedProcess;

export interface AgentProcessOptions extends ProcessOptions {
  /** Arguments to node before the CLI (V8 options). */
  nodeArgs?: string[];
}

/** `extraArgs` go to `ebpf-agent run` after the workspace's; `options` as for startLoggedProcess. */
export function startAgent(workspace: AgentWorkspace, extraArgs: string[] = [], options: AgentProcessOptions = {}): Promise<AgentProcess> {
  const { nodeArgs = [], ...processOptions } = options;
  return startLoggedProcess(
    [
      ...nodeArgs,
      cliPath,
      "run",
      "--config",
      workspace.configDir,
      "--listen",
      "127.0.0.1:0",
      "--pin-root",
      workspace.pinRoot,
      "--cache-dir",
      workspace.cacheDir,
      ...extraArgs,
    ],
    "agent listening",
    undefined,
    processOptions,
  );
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
