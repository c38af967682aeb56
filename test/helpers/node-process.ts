/**
 * Runs one of the project's CLIs as a real process, reading its JSON log lines from stderr, and
 * resolves once a given log message shows up with a `url` (the bound HTTP address).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

export interface LoggedProcess {
  url: string;
  child: ChildProcess;
  logs: Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ProcessOptions {
  /** Run this instead of node (e.g. `unshare` wrapping node); `args` are then its arguments. */
  command?: string;
  env?: NodeJS.ProcessEnv;
  /** Pipe the process's stdout (`child.stdout`) instead of passing it through. */
  pipeStdout?: boolean;
}

export async function startLoggedProcess(args: string[], readyMessage: string, timeoutMs = 60_000, options: ProcessOptions = {}): Promise<LoggedProcess> {
  const child = spawn(options.command ?? process.execPath, args, {
    stdio: ["ignore", options.pipeStdout ? "pipe" : "inherit", "pipe"],
    ...(options.env ? { env: options.env } : {}),
  });
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`"${readyMessage}" not logged within ${timeoutMs} ms; logs:\n${JSON.stringify(logs.slice(-20), null, 1)}`)),
      timeoutMs,
    );
    createInterface({ input: child.stderr! }).on("line", (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        entry = { msg: line };
      }
      logs.push(entry);
      if (entry.msg === readyMessage && typeof entry.url === "string") {
        clearTimeout(timer);
        resolve(entry.url);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`process exited with ${code} before "${readyMessage}"; logs:\n${JSON.stringify(logs.slice(-20), null, 1)}`));
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
