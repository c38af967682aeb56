/**
 * Runs a toolchain program without a shell (argument arrays only), asynchronously, in its own
 * process group, with a wall-time limit, capped output capture and optional prlimit resource
 * limits.
 */
import { spawn } from "node:child_process";
import type { FileHandle } from "node:fs/promises";
import type { Readable, Writable } from "node:stream";

/**
 * Resource limits set with util-linux's prlimit before the tool starts; every process it starts
 * inherits them. The kernel enforces each one per process.
 */
export interface ResourceLimits {
  prlimitPath: string;
  /** RLIMIT_AS: virtual address space, a backstop (shared libraries alone take ~300 MB of it). */
  addressSpaceBytes: number;
  /**
   * RLIMIT_DATA: heap and other private writable memory, i.e. what clang really allocates.
   * Shared anonymous memory, which RLIMIT_DATA does not count, is refused by the sandbox's
   * seccomp filter.
   */
  dataBytes?: number;
  /** RLIMIT_CPU with soft = hard: the kernel sends SIGKILL (not the catchable SIGXCPU) at the limit. */
  cpuSeconds?: number;
  /** Largest file the tool may write (RLIMIT_FSIZE) in bytes; exceeding it raises SIGXFSZ. */
  fileSizeBytes: number;
  /** RLIMIT_NOFILE. */
  openFiles?: number;
}

/**
 * A file descriptor handed to the child as fd 3, 4, ...: an open file, bytes to read, a pipe to
 * read back when the run ends, a pipe the caller writes while the tool runs (`input`), or a pipe
 * the caller reads while the tool runs (`output`).
 */
export type ExtraStdio = { fd: number } | { data: string | Uint8Array } | { readBack: true } | InputPipe | OutputPipe;

/**
 * A pipe the caller writes while the tool runs, e.g. an answer the tool waits for: `input` gets
 * the stream right after the spawn, and the caller must end it (the tool then reads EOF). Write
 * errors (the tool is gone) are swallowed: the run's result says how it ended.
 */
export interface InputPipe {
  input: (stream: Writable) => void;
}

/**
 * A pipe the tool writes and the caller reads while the tool runs: `onEnd` gets the bytes at the
 * pipe's EOF (every holder closed it), which may be long before the tool exits. More than
 * `maxBytes` kills the process group, sets `outputOverflow` and hands `onEnd` what was kept.
 */
export interface OutputPipe {
  output: { maxBytes: number; onEnd: (bytes: Buffer, overflow: boolean) => void };
}

export interface RunOptions {
  timeoutMs: number;
  /** Bytes kept from stderr (and from stdout unless `maxStdoutBytes`); the rest is dropped and flagged. */
  maxCaptureBytes: number;
  /**
   * Most stdout bytes accepted: when the tool writes more, its process group is killed and
   * `stdoutOverflow` is set (the tool writes its output to stdout, so this is its output limit).
   */
  maxStdoutBytes?: number;
  cwd?: string;
  limits?: ResourceLimits;
  /** Send stdout to this open file instead of capturing it (for large outputs). */
  stdoutFile?: FileHandle;
  extraStdio?: readonly ExtraStdio[];
  /** Run as this uid/gid (only when the caller is root); supplementary groups are dropped. */
  user?: { uid: number; gid: number };
  /** The child's whole environment. Default: this process's plus LC_ALL=C. */
  env?: NodeJS.ProcessEnv;
  /** Aborting kills the process group (the run then resolves, `aborted` set). */
  signal?: AbortSignal;
}

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** stdout as UTF-8 text. */
  stdout: string;
  /** stdout as bytes (for binary output such as an object file). */
  stdoutBytes: Buffer;
  stderr: string;
  truncated: boolean;
  stdoutOverflow: boolean;
  timedOut: boolean;
  /** Killed because `signal` was aborted. */
  aborted?: boolean;
  /** An `output` pipe exceeded its `maxBytes` and the process group was killed. */
  outputOverflow?: boolean;
  /** What the child wrote to each `readBack` descriptor, in the order they were given. */
  readBack: string[];
  elapsedMs: number;
}

/** prlimit's arguments for the limits; RLIMIT_CORE is always 0 (no core files from a crash). */
export function prlimitArgs(limits: ResourceLimits): string[] {
  const args = [`--as=${limits.addressSpaceBytes}`, `--fsize=${limits.fileSizeBytes}`, "--core=0"];
  if (limits.dataBytes !== undefined) args.push(`--data=${limits.dataBytes}`);
  if (limits.cpuSeconds !== undefined) args.push(`--cpu=${limits.cpuSeconds}:${limits.cpuSeconds}`);
  if (limits.openFiles !== undefined) args.push(`--nofile=${limits.openFiles}`);
  return args;
}

/** Rejects only when the program cannot be started (e.g. ENOENT); a failing run resolves. */
export function runTool(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const argv = options.limits ? [options.limits.prlimitPath, ...prlimitArgs(options.limits), "--", command, ...args] : [command, ...args];
  const started = performance.now();
  const extra = options.extraStdio ?? [];
  return new Promise((resolvePromise, reject) => {
    const stdio: ("ignore" | "pipe" | number)[] = [
      "ignore",
      options.stdoutFile ? options.stdoutFile.fd : "pipe",
      "pipe",
      ...extra.map((e) => ("fd" in e ? e.fd : "pipe")),
    ];
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: options.cwd,
      detached: true,
      stdio,
      env: options.env ?? { ...process.env, LC_ALL: "C" },
      ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}),
    });

    let timedOut = false;
    let stdoutOverflow = false;
    let exited = false;
    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        if (!exited) child.kill("SIGKILL");
      }
    };

    const stdoutLimit = options.maxStdoutBytes ?? options.maxCaptureBytes;
    const captured = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    const sizes = { stdout: 0, stderr: 0 };
    let truncated = false;
    const collect = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
      const limit = stream === "stdout" ? stdoutLimit : options.maxCaptureBytes;
      const room = limit - sizes[stream];
      if (chunk.length > room) {
        if (stream === "stdout" && options.maxStdoutBytes !== undefined) {
          if (!stdoutOverflow) {
            stdoutOverflow = true;
            killGroup();
          }
          return;
        }
        truncated = true;
      }
      if (room <= 0) return;
      const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
      captured[stream].push(kept);
      sizes[stream] += kept.length;
    };
    child.stdout?.on("data", collect("stdout"));
    child.stderr?.on("data", collect("stderr"));

    const readBack: Buffer[][] = [];
    let outputOverflow = false;
    extra.forEach((entry, i) => {
      const stream = child.stdio[3 + i] as (Readable & Writable) | null | undefined;
      if (!stream) return;
      // A child that dies early closes its end: nothing to report, the exit status says it all.
      stream.on("error", () => undefined);
      if ("data" in entry) stream.end(entry.data);
      else if ("input" in entry) entry.input(stream);
      else if ("output" in entry) {
        const chunks: Buffer[] = [];
        let bytes = 0;
        let overflow = false;
        stream.on("data", (chunk: Buffer) => {
          if (overflow) return;
          if (bytes + chunk.length > entry.output.maxBytes) {
            overflow = outputOverflow = true;
            killGroup();
            return;
          }
          chunks.push(chunk);
          bytes += chunk.length;
        });
        stream.once("close", () => entry.output.onEnd(Buffer.concat(chunks), overflow));
      } else if ("readBack" in entry) {
        const chunks: Buffer[] = [];
        let bytes = 0;
        readBack.push(chunks);
        stream.on("data", (chunk: Buffer) => {
          if (bytes < 64 * 1024) chunks.push(chunk);
          bytes += chunk.length;
        });
      }
    });

    const timer = setTimeout(
      () => {
        timedOut = true;
        killGroup();
      },
      Math.max(1, options.timeoutMs),
    );

    let aborted = false;
    const abort = (): void => {
      aborted = true;
      killGroup();
    };
    if (options.signal?.aborted) abort();
    else options.signal?.addEventListener("abort", abort, { once: true });

    child.once("error", (error) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", abort);
      reject(error);
    });
    child.once("exit", () => {
      exited = true;
    });
    child.once("close", (exitCode, signal) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", abort);
      const stdoutBytes = Buffer.concat(captured.stdout);
      resolvePromise({
        exitCode,
        signal,
        stdout: stdoutBytes.toString("utf8"),
        stdoutBytes,
        stderr: Buffer.concat(captured.stderr).toString("utf8"),
        truncated,
        stdoutOverflow,
        timedOut,
        ...(aborted ? { aborted } : {}),
        ...(outputOverflow ? { outputOverflow } : {}),
        readBack: readBack.map((chunks) => Buffer.concat(chunks).toString("utf8")),
        elapsedMs: performance.now() - started,
      });
    });
  });
}
