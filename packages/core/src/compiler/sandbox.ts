/**
 * Where clang runs. With bubblewrap (`bwrap`, a maintained Debian package; see docs/compiler.md
 * for why it and not hand-made namespaces), every clang run gets:
 *
 *  - its own user, mount, PID, network, IPC, UTS and cgroup namespaces; no further user
 *    namespaces; a new session; no capabilities; a seccomp allow-list (seccomp-policy.ts);
 *    no environment but LC_ALL/TMPDIR/PATH;
 *  - a root file system that holds only the toolchain (clang, the POSIX shell that runs our fixed
 *    two-stage script, and the shared libraries the dynamic loader resolves for them), the include directories and vmlinux.h's (read-only, at their
 *    own paths; vmlinux.h copied in where its cache is out of the sandbox user's reach), the
 *    program (copied in, read-only, at /ebpf-operator/src/) and a
 *    size-limited /tmp; no /proc, no /dev (clang and the script use inherited descriptors only),
 *    nothing writable elsewhere;
 *  - not root: the sandbox's uid is 65534, and when this process is root clang's real uid is
 *    dropped to `user` before bwrap starts.
 *
 * Output leaves through inherited pipes (the preprocessed text and its diagnostics), stdout (the
 * object) and stderr (diagnostics); no host directory is writable from inside. The process group (prlimit -> bwrap -> clang) is
 * killed as a whole on a timeout, and bwrap's `--die-with-parent` plus the PID namespace take
 * down anything left.
 *
 * Without bwrap (`mode: "none"`), clang runs directly with the same resource limits, on a host
 * build directory; the include policy's checks are then the only confinement.
 */
import { createHash } from "node:crypto";
import { chmod, cp, lstat, mkdtemp, open, readdir, realpath, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { buildSeccompFilter } from "@ebpf-operator/libbpf";
import { fileListingHash } from "./compile-cache.js";
import type { ExtraStdio, ResourceLimits, RunResult } from "./run-tool.js";
import { runTool } from "./run-tool.js";
import { SECCOMP_DEFAULT_ERRNO, compilerSeccompRules } from "./seccomp-policy.js";
import type { StageOne, TwoStageOutcome } from "./two-stage.js";
import { runTwoStages, stageFds, twoStageScript } from "./two-stage.js";

/** `required`: no compile without the sandbox; `auto`: use it when it works, say loudly when not; `off`: never (tests of other layers). */
export type SandboxSetting = "required" | "auto" | "off";

export interface SandboxStatus {
  /** `bwrap`: every clang run is confined as described above; `none`: clang runs unconfined. */
  mode: "bwrap" | "none";
  /** Why the mode is `none`. */
  reason?: string;
  /** bwrap's path and version. */
  bwrap?: string;
  /** The uid clang runs as, outside the sandbox. */
  uid?: number;
  /**
   * Present when bubblewrap's `--disable-userns` could not be had: it writes the new user
   * namespace's `/proc/sys/user/max_user_namespaces`, which a container runtime mounts
   * read-only (runc's readonly /proc/sys). New namespaces are then refused by the seccomp
   * filter alone (unshare, setns and clone with CLONE_NEW* are not allowed).
   */
  nestedUserns?: "seccomp-only";
}

/** Where the build directory is inside the sandbox; also its name in debug info (-ffile-prefix-map). */
export const SANDBOX_WORK_DIR = "/ebpf-operator";
/** The default unprivileged identity clang runs as when this process is root. */
export const DEFAULT_SANDBOX_USER = { uid: 65534, gid: 65534 };

export interface SandboxRun {
  tool: string;
  args: readonly string[];
  /** The program, written read-only at `<SANDBOX_WORK_DIR>/src/<name>`. */
  source: { name: string; text: string };
  timeoutMs: number;
  maxCaptureBytes: number;
  maxStdoutBytes: number;
  limits?: ResourceLimits;
  /** Aborting kills the run (the fair queue preempting a compile: fair-scheduler.ts). */
  signal?: AbortSignal;
}

/** Both clang runs of a compile in one sandbox (two-stage.ts): stage 1's output goes to `decide`. */
export interface SandboxTwoStageRun {
  tool: string;
  preprocessArgs: readonly string[];
  compileArgs: readonly string[];
  source: { name: string; text: string };
  timeoutMs: number;
  maxCaptureBytes: number;
  /** Stage 1's output limit (the preprocessed text). */
  maxTextBytes: number;
  /** Stage 2's output limit (the object). */
  maxStdoutBytes: number;
  limits?: ResourceLimits;
  signal?: AbortSignal;
  decide: (stageOne: StageOne) => Promise<boolean>;
}

export interface SandboxTwoStageResult extends TwoStageOutcome {
  run: SandboxRunResult;
}

export interface SandboxRunResult extends RunResult {
  /** bwrap could not build the sandbox (its message); the tool never ran. */
  setupError?: string;
  /** The tool's death signal, recovered from bwrap's 128+N exit code. */
  toolSignal?: NodeJS.Signals;
}

const SIGNALS: Record<number, NodeJS.Signals> = { 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 24: "SIGXCPU", 25: "SIGXFSZ", 31: "SIGSYS" };

/**
 * The files the dynamic loader maps for `binary` (LD_TRACE_LOADED_OBJECTS, what ldd does), each
 * as `{ path, real }`: the path the loader asks for and the file it is.
 */
export async function sharedLibraries(binary: string): Promise<{ path: string; real: string }[]> {
  const result = await runTool(binary, [], {
    timeoutMs: 15_000,
    maxCaptureBytes: 256 * 1024,
    env: { LD_TRACE_LOADED_OBJECTS: "1", PATH: "/usr/bin:/bin" },
  });
  if (result.exitCode !== 0) throw new Error(`listing the shared libraries of ${binary} failed: ${result.stderr.trim().slice(0, 300)}`);
  const libraries: { path: string; real: string }[] = [];
  for (const line of result.stdout.split("\n")) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)\s*$/.exec(line.trim());
    if (!match?.[1]) continue;
    libraries.push({ path: match[1], real: await realpath(match[1]) });
  }
  return libraries;
}

/** Why `uid`/`gid` cannot read `path` (every ancestor searchable, the target readable), if it cannot. */
async function unreachableFor(path: string, who: { uid: number; gid: number }, isDir: boolean): Promise<string | undefined> {
  const may = (info: { uid: number; gid: number; mode: number }, bits: number): boolean => {
    if (info.uid === who.uid) return ((info.mode >> 6) & bits) === bits;
    if (info.gid === who.gid) return ((info.mode >> 3) & bits) === bits;
    return (info.mode & bits) === bits;
  };
  let dir = dirname(path);
  for (;;) {
    const info = await stat(dir);
    if (!may(info, 1)) return `${dir} is not searchable by uid ${who.uid} (mode ${(info.mode & 0o777).toString(8)})`;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const info = await stat(path);
  if (!may(info, isDir ? 5 : 4)) return `${path} is not readable by uid ${who.uid} (mode ${(info.mode & 0o777).toString(8)})`;
  return undefined;
}

/**
 * A world-readable copy of `dir` in the temp directory, named by its path and listing (reused
 * while both are unchanged). Symlinks are copied as symlinks, never followed: one pointing
 * outside resolves to nothing inside the sandbox.
 */
export async function stageDirectory(dir: string): Promise<string> {
  const id = createHash("sha256")
    .update(`${dir}\0${await fileListingHash(dir)}`)
    .digest("hex")
    .slice(0, 20);
  const target = join(tmpdir(), `ebpf-operator-include-${id}`);
  const existing = await lstat(target).catch(() => undefined);
  if (existing?.isDirectory() && existing.uid === process.getuid?.() && (existing.mode & 0o022) === 0) return target;
  if (existing) await rm(target, { recursive: true, force: true });
  const temp = await mkdtemp(`${target}.tmp-`);
  try {
    await cp(dir, temp, { recursive: true, dereference: false, verbatimSymlinks: true });
    const open = async (path: string): Promise<void> => {
      const info = await lstat(path);
      if (info.isSymbolicLink()) return;
      await chmod(path, info.isDirectory() ? 0o755 : 0o644);
      if (info.isDirectory()) for (const entry of await readdir(path)) await open(join(path, entry));
    };
    await open(temp);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    // Another process staged the same copy first.
    if ((await lstat(target).catch(() => undefined))?.isDirectory()) return target;
    throw error;
  }
  return target;
}

export interface BwrapOptions {
  bwrapPath: string;
  /** clang itself (its real path: argv[0] is how clang finds its own installation without /proc). */
  tool: string;
  /** The tool's shared libraries (sharedLibraries(tool)); listed here when not given. */
  libraries?: { path: string; real: string }[];
  includeDirs: readonly string[];
  /**
   * Directories of generated files (vmlinux.h's): bound like include directories when the
   * sandbox's user can reach them; otherwise their files are copied into every sandbox (a cache
   * in a private home must not leave lasting world-readable copies behind).
   */
  dataDirs?: readonly string[];
  /** Size of the sandbox's /tmp (a tmpfs, memory-backed). */
  tmpBytes: number;
  /** The seccomp program (compilerSeccompProgram()), handed to bwrap on a pipe per run. */
  seccompProgram: Buffer;
  user?: { uid: number; gid: number };
  /**
   * A POSIX shell (Debian's dash) bound read-only with its libraries, for runTwoStages(); it runs
   * only our fixed script (two-stage.ts). Without it the sandbox runs single tools only.
   */
  shell?: string;
  /** The shell's shared libraries (sharedLibraries(shell)); listed here when not given. */
  shellLibraries?: { path: string; real: string }[];
  /** How create() proves the sandbox works: run the tool with these arguments, expect this output. Default: clang --version. */
  probe?: { args: string[]; stdout: RegExp };
}

/** A bubblewrap sandbox for one toolchain and one set of include directories. */
export class BwrapSandbox {
  private constructor(
    private readonly options: BwrapOptions,
    private readonly binds: readonly string[],
    private readonly user: { uid: number; gid: number } | undefined,
    readonly status: SandboxStatus,
    /** Files copied into each sandbox at their own paths. */
    private readonly copies: readonly string[],
    private disableUserns = true,
  ) {}

  /** Sets the sandbox up and proves it works (clang --version inside it); throws with the reason otherwise. */
  static async create(options: BwrapOptions): Promise<BwrapSandbox> {
    const user = process.getuid?.() === 0 ? (options.user ?? DEFAULT_SANDBOX_USER) : undefined;
    const binds: string[] = [];
    const bound = new Set<string>();
    const bind = (from: string, to: string): void => {
      if (bound.has(to)) return;
      bound.add(to);
      binds.push("--ro-bind", from, to);
    };
    // The toolchain: clang (and the shell) and exactly the libraries the loader maps for them.
    const programs = [{ path: options.tool, libraries: options.libraries }];
    if (options.shell) programs.push({ path: options.shell, libraries: options.shellLibraries });
    for (const program of programs) {
      bind(program.path, program.path);
      for (const library of program.libraries ?? (await sharedLibraries(program.path))) {
        bind(library.real, library.path);
        if (user) {
          const why = await unreachableFor(library.real, user, false);
          if (why) throw new Error(`the toolchain is not reachable by the sandbox's user: ${why}`);
        }
      }
      if (user) {
        const why = await unreachableFor(program.path, user, false);
        if (why) throw new Error(`${program.path} is not reachable by the sandbox's user: ${why}`);
      }
    }
    for (const dir of options.includeDirs) {
      if (!isAbsolute(dir) || dir === SANDBOX_WORK_DIR || dir.startsWith(`${SANDBOX_WORK_DIR}/`)) {
        throw new Error(`include directory ${dir} cannot be mapped into the sandbox (it must be absolute and outside ${SANDBOX_WORK_DIR})`);
      }
      // A directory the unprivileged user cannot reach (e.g. a checkout below /root) is bound
      // from a world-readable copy, at its own path, so paths in flags and objects stay the same.
      const why = user ? await unreachableFor(dir, user, true) : undefined;
      bind(why ? await stageDirectory(dir) : dir, dir);
    }
    const copies: string[] = [];
    for (const dir of options.dataDirs ?? []) {
      if (!user || !(await unreachableFor(dir, user, true))) bind(dir, dir);
      else for (const entry of await readdir(dir, { withFileTypes: true })) if (entry.isFile()) copies.push(join(dir, entry.name));
    }
    const version = await runTool(options.bwrapPath, ["--version"], { timeoutMs: 15_000, maxCaptureBytes: 4096 });
    const status: SandboxStatus = { mode: "bwrap", bwrap: `${options.bwrapPath} (${version.stdout.trim() || "unknown version"})` };
    if (user) status.uid = user.uid;
    else if (process.getuid) status.uid = process.getuid();
    const sandbox = new BwrapSandbox(options, binds, user, status, copies);
    const expected = options.probe ?? { args: ["--version"], stdout: /clang version/ };
    const runProbe = () =>
      sandbox.run({
        tool: options.tool,
        args: expected.args,
        source: { name: "probe.c", text: "" },
        timeoutMs: 30_000,
        maxCaptureBytes: 64 * 1024,
        maxStdoutBytes: 64 * 1024,
      });
    let probe = await runProbe();
    if (/max_user_namespaces: Read-only file system/.test(`${probe.setupError ?? ""}\n${probe.stderr}`)) {
      // In a container (/proc/sys read-only) --disable-userns cannot be had; the seccomp filter
      // still refuses every way to a new namespace, so the sandbox holds without it.
      sandbox.disableUserns = false;
      status.nestedUserns = "seccomp-only";
      probe = await runProbe();
    }
    if (probe.setupError !== undefined || probe.exitCode !== 0 || !expected.stdout.test(probe.stdout)) {
      const detail = probe.setupError ?? (probe.stderr.trim().slice(0, 500) || `exit ${probe.exitCode ?? probe.signal}`);
      throw new Error(`bubblewrap could not run ${options.tool} in a sandbox: ${detail}`);
    }
    if (options.shell) {
      // Both stages through the shell, as every compile runs them (seccomp, binds, the pipes).
      const staged = await sandbox.runTwoStages({
        tool: options.tool,
        preprocessArgs: expected.args,
        compileArgs: expected.args,
        source: { name: "probe.c", text: "" },
        timeoutMs: 30_000,
        maxCaptureBytes: 64 * 1024,
        maxTextBytes: 64 * 1024,
        maxStdoutBytes: 64 * 1024,
        decide: async (one) => one.exitCode === 0 && expected.stdout.test(one.text.toString("utf8")),
      });
      if (!staged.compiled || staged.run.exitCode !== 0 || !expected.stdout.test(staged.run.stdout)) {
        const detail =
          staged.run.setupError ??
          (`${staged.stageOne?.stderr ?? ""}${staged.run.stderr}`.trim().slice(0, 500) || `exit ${staged.run.exitCode ?? staged.run.signal}`);
        throw new Error(`bubblewrap could not run both stages through ${options.shell} in a sandbox: ${detail}`);
      }
    }
    return sandbox;
  }

  async run(job: SandboxRun): Promise<SandboxRunResult> {
    return this.#withCopies((copies) => this.#launch(job, [job.tool, ...job.args], [], copies));
  }

  /**
   * Both stages of a compile in this one sandbox: `shell -c <fixed script>` runs `tool
   * preprocessArgs` with its output on pipes, and `tool compileArgs` only when `decide` says so.
   */
  async runTwoStages(job: SandboxTwoStageRun): Promise<SandboxTwoStageResult> {
    const shell = this.options.shell;
    if (!shell) throw new Error("this sandbox has no shell for two-stage runs");
    // fds 3-5 are bwrap's (seccomp, program, status), 6-9 the stages' pipes, 10.. the copied files.
    const fds = stageFds(6);
    const script = twoStageScript(job.preprocessArgs.length, job.compileArgs.length, fds);
    const argv = [shell, "-c", script, "ebpf-compile", job.tool, ...job.preprocessArgs, ...job.compileArgs];
    return this.#withCopies(async (copies) => {
      const outcome = await runTwoStages(job.maxTextBytes, job.maxCaptureBytes, (stdio) => this.#launch(job, argv, stdio, copies), job.decide);
      return { ...outcome, run: outcome.run as SandboxRunResult };
    });
  }

  async #withCopies<T>(body: (files: FileHandle[]) => Promise<T>): Promise<T> {
    const files = await Promise.all(this.copies.map((file) => open(file, "r")));
    try {
      return await body(files);
    } finally {
      await Promise.all(files.map((f) => f.close()));
    }
  }

  /** Runs `command` in a new sandbox; `stdio` lands at fd 6.., the copied files after it. */
  async #launch(
    job: Pick<SandboxRun, "source" | "timeoutMs" | "maxCaptureBytes" | "maxStdoutBytes" | "limits" | "signal">,
    command: readonly string[],
    stdio: ExtraStdio[],
    files: FileHandle[],
  ): Promise<SandboxRunResult> {
    // fds: 3 seccomp, 4 the program, 5 status, 6.. the caller's, then the copied files.
    const extra: ExtraStdio[] = [
      { data: this.options.seccompProgram },
      { data: job.source.text },
      { readBack: true },
      ...stdio,
      ...files.map((f) => ({ fd: f.fd })),
    ];
    const firstCopy = 6 + stdio.length;
    const copies = this.copies.flatMap((file, i) => ["--perms", "0444", "--ro-bind-data", String(firstCopy + i), file]);
    const args = [
      "--unshare-all",
      "--unshare-user",
      ...(this.disableUserns ? ["--disable-userns"] : []),
      "--die-with-parent",
      "--new-session",
      "--cap-drop",
      "ALL",
      "--clearenv",
      "--setenv",
      "LC_ALL",
      "C",
      "--setenv",
      "TMPDIR",
      "/tmp",
      "--setenv",
      "PATH",
      "/usr/bin:/bin",
      "--uid",
      String(DEFAULT_SANDBOX_USER.uid),
      "--gid",
      String(DEFAULT_SANDBOX_USER.gid),
      "--hostname",
      "ebpf-compile",
      // No /dev: clang writes to stdout and the pipes it inherits, and bwrap's --dev costs its
      // six device binds (docs/compiler.md, "What a compile costs"). /tmp first: a later bind
      // below /tmp (an include directory there) stays visible.
      "--size",
      String(this.options.tmpBytes),
      "--tmpfs",
      "/tmp",
      ...this.binds,
      "--dir",
      `${SANDBOX_WORK_DIR}/src`,
      "--perms",
      "0444",
      "--ro-bind-data",
      "4",
      `${SANDBOX_WORK_DIR}/src/${job.source.name}`,
      ...copies,
      "--remount-ro",
      "/",
      "--chdir",
      SANDBOX_WORK_DIR,
      "--json-status-fd",
      "5",
      "--seccomp",
      "3",
      "--",
      ...command,
    ];
    const result = await runTool(this.options.bwrapPath, args, {
      timeoutMs: job.timeoutMs,
      maxCaptureBytes: job.maxCaptureBytes,
      maxStdoutBytes: job.maxStdoutBytes,
      cwd: "/",
      env: { LC_ALL: "C" },
      extraStdio: extra,
      ...(job.limits ? { limits: job.limits } : {}),
      ...(this.user ? { user: this.user } : {}),
      ...(job.signal ? { signal: job.signal } : {}),
    });
    return interpret(result);
  }
}

/** Reads bwrap's status stream: whether the tool ran, and how it ended. */
function interpret(result: RunResult): SandboxRunResult {
  const status = result.readBack[0] ?? "";
  const exit = /"exit-code"\s*:\s*(\d+)/.exec(status);
  if (exit) {
    const code = Number(exit[1]);
    const out: SandboxRunResult = { ...result, exitCode: code };
    const signal = code > 128 ? SIGNALS[code - 128] : undefined;
    if (signal) out.toolSignal = signal;
    return out;
  }
  // Killed from outside (timeout, output limit, preempted): the run result says so.
  if (result.timedOut || result.stdoutOverflow || result.outputOverflow || result.aborted) return result;
  // No exit code: bwrap failed to build the sandbox and said why on stderr.
  const message = result.stderr
    .split("\n")
    .filter((line) => line.startsWith("bwrap:"))
    .join("; ");
  return { ...result, setupError: message || result.stderr.trim().slice(0, 500) || `bwrap exited with ${result.exitCode ?? result.signal}` };
}

/** The seccomp program for clang, compiled for this architecture. */
export function compilerSeccompProgram(): Buffer {
  const { program } = buildSeccompFilter(SECCOMP_DEFAULT_ERRNO, compilerSeccompRules());
  return program;
}
