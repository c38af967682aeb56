/**
 * Runs the built `ebpf-agent` CLI as a real process for end-to-end tests: its own config
 * directory, pin root (below /sys/fs/bpf, removed afterwards) and compile cache, listening on a
 * free loopback port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

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

export interface AgentProcess {
  url: string;
  child: ChildProcess;
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startAgent(workspace: AgentWorkspace, extraArgs: string[] = []): Promise<AgentProcess> {
  const child = spawn(
    process.execPath,
    [cliPath, "run", "--config", workspace.configDir, "--listen", "127.0.0.1:0", "--pin-root", workspace.pinRoot, "--cache-dir", workspace.cacheDir, ...extraArgs],
    { stdio: ["ignore", "inherit", "pipe"] },
  );
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent did not start listening in 60 s; logs:\n${JSON.stringify(logs, null, 1)}`)), 60_000);
    createInterface({ input: child.stderr! }).on("line", (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        entry = { msg: line };
      }
      logs.push(entry);
      if (entry.msg === "agent listening" && typeof entry.url === "string") {
        clearTimeout(timer);
        resolve(entry.url);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited with ${code} before listening; logs:\n${JSON.stringify(logs, null, 1)}`));
    });
  });
  return {
    url,
    child,
    logs,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
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
