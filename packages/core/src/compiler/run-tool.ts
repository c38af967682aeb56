/**
 * Runs a toolchain program without a shell (argument arrays only), asynchronously, with a
 * wall-time limit, capped output capture and optional prlimit resource limits.
 */
import { spawn } from "node:child_process";
import type { FileHandle } from "node:fs/promises";

export interface ResourceLimits {
  prlimitPath: string;
  /** Address-space limit (RLIMIT_AS) in bytes. */
  addressSpaceBytes: number;
  /** Largest file the tool may write (RLIMIT_FSIZE) in bytes; exceeding it raises SIGXFSZ. */
  fileSizeBytes: number;
}

export interface RunOptions {
  timeoutMs: number;
  /** Bytes kept from each of stdout and stderr; the rest is dropped and flagged. */
  maxCaptureBytes: number;
  cwd?: string;
  limits?: ResourceLimits;
  /** Send stdout to this open file instead of capturing it (for large outputs). */
  stdoutFile?: FileHandle;
}

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  timedOut: boolean;
}

/** Rejects only when the program cannot be started (e.g. ENOENT); a failing run resolves. */
export function runTool(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const argv = options.limits
    ? [options.limits.prlimitPath, `--as=${options.limits.addressSpaceBytes}`, `--fsize=${options.limits.fileSizeBytes}`, "--", command, ...args]
    : [command, ...args];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: options.cwd,
      // Own process group, so a timeout kills clang's subprocesses (cc1, a fake script's sleep) too.
      detached: true,
      stdio: ["ignore", options.stdoutFile ? options.stdoutFile.fd : "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C" },
    });
    const captured = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    const sizes = { stdout: 0, stderr: 0 };
    let truncated = false;
    const collect = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
      const room = options.maxCaptureBytes - sizes[stream];
      if (room <= 0) {
        truncated = true;
        return;
      }
      if (chunk.length > room) truncated = true;
      const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
      captured[stream].push(kept);
      sizes[stream] += kept.length;
    };
    child.stdout?.on("data", collect("stdout"));
    child.stderr?.on("data", collect("stderr"));

    let timedOut = false;
    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    const timer = setTimeout(
      () => {
        timedOut = true;
        killGroup();
      },
      Math.max(1, options.timeoutMs),
    );

    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (exitCode, signal) => {
      clearTimeout(timer);
      resolvePromise({
        exitCode,
        signal,
        stdout: Buffer.concat(captured.stdout).toString("utf8"),
        stderr: Buffer.concat(captured.stderr).toString("utf8"),
        truncated,
        timedOut,
      });
    });
  });
}
