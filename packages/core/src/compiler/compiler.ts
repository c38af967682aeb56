/**
 * BpfCompiler: untrusted eBPF C in, a cached BPF ELF object out. See docs/compiler.md.
 *
 * Each compile runs clang twice in one process tree (one prlimit, one sandbox: two-stage.ts),
 * started by a fixed shell script of ours that never sees tenant text: `clang -E` first, whose
 * line markers name every header the program read (the cache key covers their content) and are
 * checked against the include policy (include-policy.ts) while the script waits; only when they
 * pass and the object is not cached does the script run the real compile of the same source with
 * the same flags, the object coming back on stdout. Both runs
 * are limited in wall time, CPU time, memory and output size; compiles queue fairly across
 * tenants (fair-scheduler.ts).
 */
import { chmod, mkdir, mkdtemp, realpath, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "../logger.js";
import { CompileCache, cacheKey, hashHeaders, objectKey } from "./compile-cache.js";
import type { CompileMetrics } from "./compile-metrics.js";
import type { Diagnostic, FileVisibility } from "./diagnostics.js";
import { WITHHELD_MESSAGE, parseClangDiagnostics, sanitizeDiagnostics, summarizeErrors } from "./diagnostics.js";
import type { CompileErrorCode } from "./errors.js";
import { CompileError } from "./errors.js";
import { FairScheduler } from "./fair-scheduler.js";
import type { FilePolicy, PolicyViolation } from "./include-policy.js";
import { PSEUDO_FILES, findAsmFileInclusion, findOutsideFile, isFileAllowed, parseLineMarkers, prescanSource } from "./include-policy.js";
import type { ResourceLimits, RunResult } from "./run-tool.js";
import { runTool } from "./run-tool.js";
import type { StageOne, TwoStageOutcome } from "./two-stage.js";
import { runTwoStages, stageFds, twoStageScript } from "./two-stage.js";
import type { SandboxSetting, SandboxStatus } from "./sandbox.js";
import { BwrapSandbox, SANDBOX_WORK_DIR, compilerSeccompProgram, sharedLibraries } from "./sandbox.js";
import type { ClangInfo } from "./toolchain.js";
import { bpftoolVersion, findBpftool, findBwrap, findExecutable, findPrlimit, multiarchTriple, probeClang, targetArchDefine } from "./toolchain.js";
import type { VmlinuxHeader } from "./vmlinux.js";
import { DEFAULT_BTF_PATH, ensureVmlinuxHeader } from "./vmlinux.js";

export interface CompileRequest {
  source: string;
  /** Names the program in messages, e.g. the resource "default/syscall-monitor". */
  label: string;
  /** Who the compile is for, for fair queueing (the namespace). Default: the label up to its "/". */
  tenant?: string;
}

export interface CompileResult {
  objectPath: string;
  /** The cache key; equal keys mean byte-identical inputs and toolchain. */
  hash: string;
  cached: boolean;
  /** Warnings (and their notes) from a successful compile; replayed on cache hits. */
  diagnostics: Diagnostic[];
  durationMs: number;
  /** How long the compile waited for a slot in the fair queue. */
  queueWaitMs: number;
  /**
   * Wall time of each clang run this compile started (from the spawn to the exit of prlimit ->
   * bwrap -> clang, sandbox set-up included); absent when no clang ran (a cache hit).
   */
  clangRunsMs?: ClangRunsMs;
}

/** Wall ms of a compile's clang runs; `compile` is absent when the object came from the cache after preprocessing. */
export interface ClangRunsMs {
  preprocess: number;
  compile?: number;
}

export interface CompilerOptions {
  /** Holds objects/, manifests/, vmlinux/ and tmp/. Created if missing. */
  cacheDir: string;
  /** Directory with ebpf-operator/prelude.h; default: the repository's (or package's) bpf/include. */
  includeDir?: string;
  /** More read-only include directories (e.g. a shared header library), searched after includeDir. */
  extraIncludeDirs?: string[];
  /** The system headers, searched last; default /usr/include/<multiarch triple> and /usr/include. */
  systemIncludeDirs?: string[];
  /** Default "clang" (PATH). */
  clangPath?: string;
  /** Wall-time limit per compile (both clang runs), default 30 s. */
  timeoutMs?: number;
  /** CPU-time limit per clang run (RLIMIT_CPU), default the wall-time limit rounded up to seconds. */
  cpuTimeLimitSeconds?: number;
  /** Largest accepted object, default 4 MiB; checked before anything is cached. */
  maxObjectBytes?: number;
  /** Memory one clang run may allocate (RLIMIT_DATA), default 512 MiB. */
  memoryLimitBytes?: number;
  /** Size of the sandbox's /tmp and largest file clang may write (RLIMIT_FSIZE), default 8 MiB. */
  tmpBytes?: number;
  /** Compiles running at once, default 2. */
  concurrency?: number;
  /** Compiles of one tenant running at once, default 1. */
  perTenantConcurrency?: number;
  /** Size bound of the object cache (least recently used out), default 256 MiB. */
  cacheMaxBytes?: number;
  /** Extra `-D` defines: `true` → `-DNAME`, otherwise `-DNAME=value`. */
  extraDefines?: Record<string, string | number | boolean>;
  /** Default: bpftool on PATH, /usr/sbin/bpftool, /usr/bin/bpftool. */
  bpftoolPath?: string;
  /** Kernel BTF for vmlinux.h, default /sys/kernel/btf/vmlinux. */
  btfPath?: string;
  /** prlimit binary; default: found on PATH. `false` runs clang without resource limits. */
  prlimitPath?: string | false;
  /** Default "auto": bubblewrap when it works, unconfined (and said loudly) when not. */
  sandbox?: SandboxSetting;
  /** Default: bwrap on PATH, /usr/bin/bwrap. */
  bwrapPath?: string;
  /** Who clang runs as when this process is root; default 65534:65534. */
  sandboxUser?: { uid: number; gid: number };
  /**
   * `false` switches the include policy off: no source scan, no check of what the preprocessor
   * read, no inline-assembly check, no withholding of diagnostics. Only for tests that prove the
   * sandbox alone keeps host files out of reach.
   */
  sourceScan?: boolean;
  metrics?: CompileMetrics;
  logger?: Pick<Logger, "debug" | "warn">;
}

export interface ToolchainInfo {
  /** First line of `clang --version`. */
  clang: string;
  bpftool?: string;
  /** Path of the generated vmlinux.h, when it could be generated. */
  vmlinux?: string;
  vmlinuxUnavailableReason?: string;
  /** "prlimit" when memory/CPU/file-size limits are enforced, "none" otherwise. */
  resourceLimits: "prlimit" | "none";
  sandbox: SandboxStatus;
}

export const COMPILER_DEFAULTS = {
  clangPath: "clang",
  timeoutMs: 30_000,
  maxObjectBytes: 4 * 1024 * 1024,
  memoryLimitBytes: 512 * 1024 * 1024,
  tmpBytes: 8 * 1024 * 1024,
  concurrency: 2,
  perTenantConcurrency: 1,
  cacheMaxBytes: 256 * 1024 * 1024,
} as const;

/** `clang -E` output limit: vmlinux.h alone preprocesses to about 3 MB. */
export const MAX_PREPROCESSED_BYTES = 32 * 1024 * 1024;
/** Address space beyond the memory limit: clang's shared libraries map ~300 MB. */
const ADDRESS_SPACE_HEADROOM = 1024 * 1024 * 1024;
/** Captured stderr per clang run. */
const MAX_CAPTURE_BYTES = 1024 * 1024;
const SOURCE_NAME = "program.bpf.c";
/** What the build directory is called in debug info and __FILE__, so objects are reproducible. */
const STABLE_BUILD_DIR = "/ebpf-operator";
const PRELUDE = join("ebpf-operator", "prelude.h");
const SYSTEM_INCLUDE = "/usr/include";
/**
 * How clang (LLVM's allocator, the C++ runtime) or the dynamic loader say they ran out of memory;
 * anchored at line starts, so a program's own `#error out of memory` is not taken for one.
 */
const MEMORY_FAILURE =
  /^(LLVM ERROR: out of memory|Allocation failed|terminate called after throwing an instance of 'std::bad_alloc')|error while loading shared libraries: .*(failed to map segment|cannot allocate memory)/im;

/**
 * The include directory holding the prelude, found by walking up from this module: works from
 * packages/core/src/compiler (tests) and from a bundled dist/ file, in the repository
 * (bpf/include) or in the published package (include/).
 */
export async function findDefaultIncludeDir(from: string = dirname(fileURLToPath(import.meta.url))): Promise<string> {
  let dir = from;
  for (let depth = 0; depth < 8; depth++) {
    for (const candidate of [join(dir, "bpf", "include"), join(dir, "include")]) {
      try {
        await stat(join(candidate, PRELUDE));
        return candidate;
      } catch {
        // keep looking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new CompileError("EOP_ERR_COMPILE_TOOLCHAIN_MISSING", `no bpf/include/${PRELUDE} found above ${from}; set the compiler's includeDir`);
}

interface Setup {
  clang: ClangInfo;
  limits?: ResourceLimits;
  bpftool?: string;
  vmlinux: VmlinuxHeader;
  /** Flags shared by both clang runs, independent of the build directory. */
  flags: string[];
  /** The POSIX shell that runs both stages' fixed script (two-stage.ts). */
  shell: string;
  allowedDirs: string[];
  /** Hash of what every manifest key shares: clang, its files, the sandbox. */
  base: string;
  /** The include path, in search order (real paths), for the shadowing check of the cache key. */
  searchDirs: string[];
  sandbox?: BwrapSandbox;
  sandboxStatus: SandboxStatus;
}

type Fail = (code: CompileErrorCode, detail: string, diagnostics?: Diagnostic[], cause?: unknown) => CompileError;

/** One clang run's outcome, whichever way clang was started. */
type ToolRun = RunResult & { setupError?: string; toolSignal?: NodeJS.Signals | null };

function positive(name: string, value: number | undefined, fallback: number, integer = false): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new RangeError(`BpfCompiler option ${name} must be a positive ${integer ? "integer" : "number"}, got ${v}`);
  }
  return v;
}

function defineFlags(defines: Record<string, string | number | boolean> | undefined): string[] {
  const flags: string[] = [];
  for (const [name, value] of Object.entries(defines ?? {})) {
    if (!/^[A-Za-z_]\w*$/.test(name)) throw new RangeError(`extraDefines: "${name}" is not a valid macro name`);
    if (value === false) continue;
    const text = value === true ? "" : String(value);
    if (/[\r\n\0]/.test(text)) throw new RangeError(`extraDefines: the value of ${name} contains a line break or NUL`);
    flags.push(value === true ? `-D${name}` : `-D${name}=${text}`);
  }
  return flags;
}

async function existingRealDirs(dirs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    try {
      out.push(await realpath(dir));
    } catch {
      // A missing directory (e.g. no multiarch dir) can hold nothing clang could open.
    }
  }
  return out;
}

/**
 * The directories where a new file would change which header `#include` finds: for a header
 * found as `<D_k>/<rel>`, `<D_j>/dirname(rel)` for every earlier search directory D_j, and the
 * header's own directory (a quoted include searches there first). Their mtimes (or absence) go
 * into the object key, so a header added on the include path is a miss, without listing
 * thousands of headers. (Like ccache's direct mode, a file that only `__has_include` asked
 * about is not tracked.)
 */
export function shadowingDirs(headers: readonly string[], searchDirs: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const header of headers) {
    dirs.add(dirname(header));
    const k = searchDirs.findIndex((d) => header.startsWith(`${d}/`));
    if (k < 0) continue;
    const rel = dirname(header.slice((searchDirs[k] as string).length + 1));
    for (let j = 0; j < k; j++) dirs.add(join(searchDirs[j] as string, rel));
  }
  return [...dirs];
}

async function fileFingerprint(path: string): Promise<string> {
  try {
    const info = await stat(path);
    return `${path}:${info.size}:${info.mtimeMs}`;
  } catch {
    return `${path}:missing`;
  }
}

export class BpfCompiler {
  readonly #options: CompilerOptions;
  readonly #timeoutMs: number;
  readonly #cpuSeconds: number;
  readonly #maxObjectBytes: number;
  readonly #memoryLimitBytes: number;
  readonly #tmpBytes: number;
  readonly #defines: string[];
  readonly #cache: CompileCache;
  readonly #scheduler: FairScheduler;
  readonly #scan: boolean;
  #setup: Promise<Setup> | undefined;

  constructor(options: CompilerOptions) {
    this.#options = { ...options, cacheDir: resolve(options.cacheDir) };
    this.#timeoutMs = positive("timeoutMs", options.timeoutMs, COMPILER_DEFAULTS.timeoutMs);
    this.#cpuSeconds = positive("cpuTimeLimitSeconds", options.cpuTimeLimitSeconds, Math.ceil(this.#timeoutMs / 1000), true);
    this.#maxObjectBytes = positive("maxObjectBytes", options.maxObjectBytes, COMPILER_DEFAULTS.maxObjectBytes, true);
    this.#memoryLimitBytes = positive("memoryLimitBytes", options.memoryLimitBytes, COMPILER_DEFAULTS.memoryLimitBytes, true);
    this.#tmpBytes = positive("tmpBytes", options.tmpBytes, COMPILER_DEFAULTS.tmpBytes, true);
    this.#scheduler = new FairScheduler(
      positive("concurrency", options.concurrency, COMPILER_DEFAULTS.concurrency, true),
      positive("perTenantConcurrency", options.perTenantConcurrency, COMPILER_DEFAULTS.perTenantConcurrency, true),
    );
    this.#defines = defineFlags(options.extraDefines);
    this.#cache = new CompileCache(this.#options.cacheDir, positive("cacheMaxBytes", options.cacheMaxBytes, COMPILER_DEFAULTS.cacheMaxBytes, true));
    this.#scan = options.sourceScan !== false;
  }

  /** The toolchain and the sandbox in use; throws like compile() when they cannot be set up. */
  async toolchainInfo(): Promise<ToolchainInfo> {
    const setup = await this.#prepare();
    const info: ToolchainInfo = {
      clang: setup.clang.version.split("\n")[0] ?? setup.clang.version,
      resourceLimits: setup.limits ? "prlimit" : "none",
      sandbox: setup.sandboxStatus,
    };
    if (setup.bpftool) info.bpftool = await bpftoolVersion(setup.bpftool).catch(() => setup.bpftool as string);
    if (setup.vmlinux.available) info.vmlinux = setup.vmlinux.headerPath;
    else if (setup.vmlinux.reason !== undefined) info.vmlinuxUnavailableReason = setup.vmlinux.reason;
    return info;
  }

  async compile(request: CompileRequest): Promise<CompileResult> {
    const started = performance.now();
    const tenant = request.tenant ?? request.label.split("/")[0] ?? "";
    const metrics = this.#options.metrics;
    let waitedMs = 0;
    try {
      const result = await this.#compile(request, tenant, started, (ms) => (waitedMs = ms));
      metrics?.observe(result.cached ? "cached" : "compiled", (performance.now() - started - waitedMs) / 1000);
      return result;
    } catch (error) {
      metrics?.observe("failed", (performance.now() - started - waitedMs) / 1000, error instanceof CompileError ? error.code : undefined);
      throw error;
    }
  }

  async #compile(request: CompileRequest, tenant: string, started: number, waited: (ms: number) => void): Promise<CompileResult> {
    const fail: Fail = (code, detail, diagnostics, cause) =>
      new CompileError(code, `compile EbpfMap ${JSON.stringify(request.label)}: ${detail}`, { diagnostics, cause });

    // Cheapest check first, before any tool runs.
    if (this.#scan) {
      const violation = prescanSource(request.source);
      if (violation) throw fail("EOP_ERR_COMPILE_INCLUDE_REFUSED", ...this.#describeViolation(violation));
    }

    const setup = await this.#prepare();
    const manifestKey = cacheKey({ source: request.source, flags: JSON.stringify(setup.flags), base: setup.base });
    const elapsed = (): number => Math.round(performance.now() - started);
    const hit = async (queueWaitMs: number): Promise<CompileResult | undefined> => {
      const cached = await this.#cache.lookupManifest(manifestKey);
      return cached && { objectPath: cached.objectPath, hash: cached.key, diagnostics: cached.diagnostics, cached: true, durationMs: elapsed(), queueWaitMs };
    };
    const early = await hit(0);
    if (early) return early;
    const metrics = this.#options.metrics;
    const gauges = (): void => {
      metrics?.running.set(this.#scheduler.running);
      metrics?.queued.set(this.#scheduler.queued);
    };
    let observed = false;
    // `preempted`: the fair queue took a borrowed slot back; clang is killed, the compile runs again later.
    const run = this.#scheduler.run(tenant, async (waitedMs, preempted) => {
      waited(waitedMs);
      if (!observed) metrics?.queueWait.observe(waitedMs / 1000);
      observed = true;
      gauges();
      const queueWaitMs = Math.round(waitedMs);
      // An identical compile may have finished while this one waited for a slot.
      const late = await hit(queueWaitMs);
      if (late) return late;
      const built = await this.#build(request.source, setup, manifestKey, fail, preempted);
      return { ...built, durationMs: elapsed(), queueWaitMs };
    });
    gauges();
    try {
      return await run;
    } finally {
      gauges();
    }
  }

  #describeViolation(v: PolicyViolation): [string, Diagnostic[]] {
    const where = v.line === undefined ? "" : `line ${v.line}: `;
    const diagnostic: Diagnostic = { severity: "error", line: v.line ?? 0, column: v.line === undefined ? 0 : 1, file: "<code>", message: v.reason };
    return [`${where}${v.reason}`, [diagnostic]];
  }

  #prepare(): Promise<Setup> {
    if (!this.#setup) {
      this.#setup = this.#probe();
      // A failed probe (e.g. clang not installed yet) is retried by the next compile.
      this.#setup.catch(() => (this.#setup = undefined));
    }
    return this.#setup;
  }

  async #probe(): Promise<Setup> {
    const o = this.#options;
    const arch = targetArchDefine();
    const probed = await probeClang(o.clangPath ?? COMPILER_DEFAULTS.clangPath);
    // The real path: without /proc in the sandbox, clang finds its installation through argv[0].
    const clang: ClangInfo = { ...probed, path: await realpath(probed.path) };
    const includeDir = resolve(o.includeDir ?? (await findDefaultIncludeDir()));
    try {
      await stat(join(includeDir, PRELUDE));
    } catch (cause) {
      throw new CompileError("EOP_ERR_COMPILE_TOOLCHAIN_MISSING", `includeDir ${includeDir} has no ${PRELUDE}`, { cause });
    }

    let limits: ResourceLimits | undefined;
    let prlimit: string | undefined;
    if (o.prlimitPath !== false) prlimit = o.prlimitPath ? await findExecutable(o.prlimitPath) : await findPrlimit();
    if (prlimit) {
      limits = {
        prlimitPath: prlimit,
        addressSpaceBytes: this.#memoryLimitBytes + ADDRESS_SPACE_HEADROOM,
        dataBytes: this.#memoryLimitBytes,
        cpuSeconds: this.#cpuSeconds,
        fileSizeBytes: this.#tmpBytes,
        openFiles: 256,
      };
    } else if (o.prlimitPath !== false) {
      o.logger?.warn(
        { prlimitPath: o.prlimitPath },
        "prlimit (util-linux) not available: clang runs without memory, CPU-time and file-size limits; only the wall-time limit and the output size check apply",
      );
    }

    const bpftool = o.bpftoolPath ? await findExecutable(o.bpftoolPath) : await findBpftool();
    const vmlinux = await ensureVmlinuxHeader({
      cacheDir: o.cacheDir,
      btfPath: o.btfPath ?? DEFAULT_BTF_PATH,
      bpftoolPath: bpftool,
      timeoutMs: Math.max(this.#timeoutMs, 120_000),
    });
    if (!vmlinux.available) o.logger?.warn({ reason: vmlinux.reason }, "vmlinux.h unavailable; programs including it will fail");

    const triple = multiarchTriple();
    const systemDirs = (o.systemIncludeDirs ?? [...(triple ? [join(SYSTEM_INCLUDE, triple)] : []), SYSTEM_INCLUDE]).map((d) => resolve(d));
    const extraDirs = (o.extraIncludeDirs ?? []).map((d) => resolve(d));
    const isystem = [clang.resourceInclude, includeDir, ...extraDirs, vmlinux.dir, ...systemDirs];
    const flags = [
      "-target",
      "bpf",
      "-O2",
      "-g",
      `-D${arch}`,
      "-nostdinc",
      ...isystem.flatMap((dir) => ["-isystem", dir]),
      "-include",
      join(includeDir, PRELUDE),
      ...this.#defines,
      "-fno-color-diagnostics",
      // A crash writes no reproducer (preprocessed source and a script) to TMPDIR.
      "-fno-crash-diagnostics",
    ];

    // Everything that can change an object besides the source, the flags and the headers read.
    const libraries = await sharedLibraries(clang.path).catch(() => []);
    // Both stages run under one shell (two-stage.ts): Debian's dash, or the system's sh.
    const shellPath = (await findExecutable("dash", ["/bin/dash"])) ?? (await findExecutable("sh", ["/bin/sh"]));
    if (!shellPath) throw new CompileError("EOP_ERR_COMPILE_TOOLCHAIN_MISSING", "no POSIX shell (dash or sh) found to run the compiler's two stages");
    const shell = await realpath(shellPath);
    const baseParts = {
      clang: clang.version,
      toolchain: (await Promise.all([clang.path, ...libraries.map((l) => l.real)].map(fileFingerprint))).join("\n"),
    };

    const setup: Setup = {
      clang,
      vmlinux,
      flags,
      shell,
      allowedDirs: await existingRealDirs(isystem),
      base: "",
      searchDirs: isystem.map((d) => resolve(d)),
      sandboxStatus: { mode: "none", reason: 'the sandbox is switched off (sandbox: "off")' },
    };
    if (limits) setup.limits = limits;
    if (bpftool) setup.bpftool = bpftool;

    const setting = o.sandbox ?? "auto";
    if (setting !== "off") {
      try {
        const bwrap = o.bwrapPath ? await findExecutable(o.bwrapPath) : await findBwrap();
        if (!bwrap)
          throw new Error(
            `bubblewrap (bwrap) was not found${o.bwrapPath ? ` at ${o.bwrapPath}` : " on PATH or at /usr/bin/bwrap"}; install it (Debian: apt-get install bubblewrap)`,
          );
        // Bound at the paths clang is given (-isystem), whatever symlinks lead there on the host;
        // nested include directories are reachable through the outer bind already. vmlinux.h's
        // directory is the cache's: bound when reachable, else vmlinux.h is copied in per run.
        const all = (
          await Promise.all(
            isystem.filter((d) => d !== vmlinux.dir).map(async (d) => ((await stat(d).catch(() => undefined))?.isDirectory() ? resolve(d) : undefined)),
          )
        ).filter((d, i, list): d is string => d !== undefined && list.indexOf(d) === i);
        const dirs = all.filter((d) => !all.some((outer) => outer !== d && d.startsWith(`${outer}/`)));
        setup.sandbox = await BwrapSandbox.create({
          bwrapPath: bwrap,
          tool: clang.path,
          libraries,
          shell,
          includeDirs: dirs,
          dataDirs: [resolve(vmlinux.dir)],
          tmpBytes: this.#tmpBytes,
          seccompProgram: compilerSeccompProgram(),
          ...(o.sandboxUser ? { user: o.sandboxUser } : {}),
        });
        setup.sandboxStatus = setup.sandbox.status;
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        if (setting === "required") {
          throw new CompileError("EOP_ERR_COMPILE_SANDBOX_UNAVAILABLE", `the compiler sandbox is required but unavailable: ${reason}`, { cause: error });
        }
        setup.sandboxStatus = { mode: "none", reason };
        o.logger?.warn(
          { reason },
          "compiler sandbox unavailable: clang runs UNCONFINED on tenant code, with the include policy as the only barrier to host files",
        );
      }
    }
    // The sandbox changes the bytes: clang's BPF backend copies source lines into BTF, reading
    // them by the name debug info gives the program, which exists only inside the sandbox.
    setup.base = cacheKey({ ...baseParts, sandbox: setup.sandboxStatus.mode });
    this.#options.metrics?.setSandbox(setup.sandboxStatus);
    o.logger?.debug({ clang: clang.path, flags, limits: limits ? "prlimit" : "none", sandbox: setup.sandboxStatus }, "bpf compiler ready");
    // A cache left over from an earlier run may be above today's bound.
    await this.#evict();
    return setup;
  }

  async #evict(): Promise<void> {
    const result = await this.#cache.evict().catch(() => undefined);
    if (!result) return;
    this.#options.metrics?.cacheEvictions.inc(result.evicted);
    this.#options.metrics?.cacheBytes.set(result.size);
    if (result.evicted > 0) this.#options.logger?.debug({ evicted: result.evicted, freedBytes: result.bytes, cacheBytes: result.size }, "object cache evicted");
  }

  async #build(
    source: string,
    setup: Setup,
    manifestKey: string,
    fail: Fail,
    preempted: AbortSignal,
  ): Promise<{ objectPath: string; hash: string; cached: boolean; diagnostics: Diagnostic[]; clangRunsMs: ClangRunsMs }> {
    const deadline = performance.now() + this.#timeoutMs;
    const sandbox = setup.sandbox;
    // Without the sandbox clang reads the program from a host build directory holding nothing else.
    let work: string | undefined;
    if (!sandbox) {
      const tmpRoot = join(this.#options.cacheDir, "tmp");
      await mkdir(tmpRoot, { recursive: true });
      work = await mkdtemp(join(tmpRoot, "build-"));
    }
    try {
      const workPath = work ?? SANDBOX_WORK_DIR;
      const sourcePath = join(workPath, "src", SOURCE_NAME);
      if (work) {
        await mkdir(join(work, "src"));
        await writeFile(sourcePath, source);
        await chmod(sourcePath, 0o444);
      }
      const policy: FilePolicy = { sourcePaths: [sourcePath], allowedDirs: setup.allowedDirs, cwd: workPath };
      const classify = async (file: string): Promise<FileVisibility> => {
        if (policy.sourcePaths.includes(resolve(workPath, file))) return { kind: "code" };
        if (!this.#scan) return { kind: "visible", name: file };
        return (await isFileAllowed(file, policy)) ? { kind: "visible", name: file } : { kind: "withheld" };
      };
      const prefixMap = `-ffile-prefix-map=${workPath}=${STABLE_BUILD_DIR}`;
      const preprocessArgs = [...setup.flags, prefixMap, "-E", sourcePath];
      // Stage 2 compiles the same source with the same flags, not the checked preprocessed text
      // (`-x cpp-output`): that measured no cheaper and would lose macro context and original
      // columns in diagnostics (docs/compiler.md, "Flags"). The sandbox's files are read-only.
      const compileArgs = [...setup.flags, prefixMap, "-c", sourcePath, "-o", "-"];

      /** Checks shared by both stages' ends: killed from outside, no sandbox, a limit's signal. */
      const killed = (result: ToolRun, signal: NodeJS.Signals | null | undefined): void => {
        // Killed for the fair queue: the scheduler runs the compile again (this error goes nowhere).
        preempted.throwIfAborted();
        if (result.timedOut) throw fail("EOP_ERR_COMPILE_TIMEOUT", this.#timeoutMessage());
        // Killed for writing too much: the output limit, not the signal, is the reason.
        if (result.outputOverflow) throw fail("EOP_ERR_COMPILE_OUTPUT_TOO_LARGE", `the preprocessed program exceeds ${MAX_PREPROCESSED_BYTES} bytes`);
        if (result.stdoutOverflow) throw fail("EOP_ERR_COMPILE_OUTPUT_TOO_LARGE", this.#tooLargeMessage());
        if (result.setupError !== undefined)
          throw fail("EOP_ERR_COMPILE_SANDBOX_UNAVAILABLE", `the sandbox could not be set up for this compile: ${result.setupError}`);
        // RLIMIT_CPU has soft = hard, so the kernel's SIGKILL is the CPU limit (the wall-time kill is `timedOut`).
        if (signal === "SIGKILL") throw fail("EOP_ERR_COMPILE_TIMEOUT", `clang exceeded the ${this.#cpuSeconds} s CPU-time limit and was killed`);
        if (signal === "SIGXFSZ") throw fail("EOP_ERR_COMPILE_OUTPUT_TOO_LARGE", `clang wrote a temporary file larger than ${this.#tmpBytes} bytes`);
      };
      const failed = async (stderr: string, exitCode: number | null, signal: NodeJS.Signals | null | undefined): Promise<CompileError> => {
        const diagnostics = await sanitizeDiagnostics(parseClangDiagnostics(stderr), classify);
        if (MEMORY_FAILURE.test(stderr)) {
          return fail(
            "EOP_ERR_COMPILE_MEMORY_LIMIT",
            `clang exceeded the ${this.#memoryLimitBytes}-byte memory limit`,
            diagnostics.filter((d) => d.file !== "<clang>"),
          );
        }
        if (this.#scan && diagnostics.some((d) => d.file === "<withheld>")) {
          return fail(
            "EOP_ERR_COMPILE_INCLUDE_REFUSED",
            `the preprocessor read a file outside the allowed include directories (${WITHHELD_MESSAGE})`,
            diagnostics,
          );
        }
        return fail("EOP_ERR_COMPILE_FAILED", this.#failureDetail(signal ?? null, exitCode, diagnostics), diagnostics);
      };

      // Between the stages, inside the running process tree: check what the preprocessor read,
      // then look the object up. Only a program that passed every check is compiled.
      let found:
        { existing: { objectPath: string; diagnostics: Diagnostic[] } | undefined; key: string; hashes: Awaited<ReturnType<typeof hashHeaders>> } | undefined;
      const decide = async (one: StageOne): Promise<boolean> => {
        if (one.exitCode !== 0) return false;
        const preprocessed = one.text.toString("utf8");
        const markers = parseLineMarkers(preprocessed);
        if (this.#scan) {
          const outside = await findOutsideFile(markers, policy);
          if (outside) {
            const from = outside.includedFrom;
            const fromCode = from !== undefined && policy.sourcePaths.includes(resolve(workPath, from.file));
            const fromText = from ? ` (included from ${fromCode ? "<code>" : from.file}:${from.line})` : "";
            const detail = `include refused: ${JSON.stringify(outside.file)}${fromText} is outside the allowed include directories`;
            const line = from && fromCode ? from.line : 0;
            throw fail("EOP_ERR_COMPILE_INCLUDE_REFUSED", detail, [{ severity: "error", line, column: line ? 1 : 0, file: "<code>", message: detail }]);
          }
          const asm = findAsmFileInclusion(preprocessed, policy.sourcePaths);
          if (asm) throw fail("EOP_ERR_COMPILE_INCLUDE_REFUSED", ...this.#describeViolation(asm));
        }
        // The object key: the manifest key plus the content of every header read.
        const headers = [...new Set(markers.map((m) => m.file))]
          .filter((file) => !PSEUDO_FILES.has(file))
          .map((file) => resolve(workPath, file))
          .filter((file) => !policy.sourcePaths.includes(file));
        const hashes = await hashHeaders([...headers, ...shadowingDirs(headers, setup.searchDirs)]);
        const key = objectKey(manifestKey, hashes);
        const existing = await this.#cache.lookup(key);
        found = { existing, key, hashes };
        // A compile preempted while deciding is killed anyway; it must not start stage 2.
        return !existing && !preempted.aborted;
      };

      const remaining = deadline - performance.now();
      if (remaining <= 0) throw fail("EOP_ERR_COMPILE_TIMEOUT", this.#timeoutMessage());
      preempted.throwIfAborted();
      const common = {
        timeoutMs: remaining,
        maxCaptureBytes: MAX_CAPTURE_BYTES,
        maxStdoutBytes: this.#maxObjectBytes,
        ...(setup.limits ? { limits: setup.limits } : {}),
        signal: preempted,
      };
      let outcome: TwoStageOutcome & { run: ToolRun };
      try {
        if (sandbox) {
          outcome = await sandbox.runTwoStages({
            ...common,
            tool: setup.clang.path,
            preprocessArgs,
            compileArgs,
            source: { name: SOURCE_NAME, text: source },
            maxTextBytes: MAX_PREPROCESSED_BYTES,
            decide,
          });
        } else {
          // The same fixed script, without the sandbox: fds 3-6 are the stages' pipes.
          const script = twoStageScript(preprocessArgs.length, compileArgs.length, stageFds(3));
          const direct = await runTwoStages(
            MAX_PREPROCESSED_BYTES,
            MAX_CAPTURE_BYTES,
            (stdio) =>
              runTool(setup.shell, ["-c", script, "ebpf-compile", setup.clang.path, ...preprocessArgs, ...compileArgs], {
                ...common,
                cwd: workPath,
                env: { LC_ALL: "C", PATH: "/usr/bin:/bin", TMPDIR: workPath },
                extraStdio: stdio,
              }),
            decide,
          );
          outcome = { ...direct, run: { ...direct.run, toolSignal: direct.run.signal } };
        }
      } catch (cause) {
        if (cause instanceof CompileError) throw cause;
        throw fail("EOP_ERR_COMPILE_TOOLCHAIN_MISSING", `could not run ${setup.clang.path}: ${String(cause)}`, [], cause);
      }
      const { run: result, stageOne: pre } = outcome;

      // Stage 1's end.
      if (!pre) {
        killed(result, result.toolSignal);
        throw fail("EOP_ERR_COMPILE_FAILED", `the compile ended before preprocessing did (${result.signal ?? `exit code ${result.exitCode}`})`);
      }
      killed(result, pre.signal);
      if (pre.exitCode !== 0) throw await failed(pre.stderr, pre.exitCode, pre.signal);
      if (!found) throw fail("EOP_ERR_COMPILE_FAILED", "the preprocessed program was not checked");
      const { existing, key, hashes } = found;
      if (existing) {
        await this.#cache.storeManifest(manifestKey, key, hashes);
        return {
          objectPath: existing.objectPath,
          hash: key,
          cached: true,
          diagnostics: existing.diagnostics,
          clangRunsMs: { preprocess: Math.round(pre.elapsedMs) },
        };
      }
      if (!outcome.compiled) throw fail("EOP_ERR_COMPILE_FAILED", "the program was not compiled");

      // Stage 2's end: the object on stdout.
      killed(result, result.toolSignal);
      if (result.exitCode !== 0) throw await failed(result.stderr, result.exitCode, result.toolSignal);
      const diagnostics = await sanitizeDiagnostics(parseClangDiagnostics(result.stderr), classify);
      const object = result.stdoutBytes;
      if (object.length > this.#maxObjectBytes) throw fail("EOP_ERR_COMPILE_OUTPUT_TOO_LARGE", this.#tooLargeMessage(object.length), diagnostics);
      if (object.length < 4 || object.readUInt32BE(0) !== 0x7f454c46) throw fail("EOP_ERR_COMPILE_FAILED", "clang produced no ELF object", diagnostics);
      const warnings = diagnostics.filter((d) => d.severity !== "error");
      const objectPath = await this.#cache.store(key, object, warnings);
      await this.#cache.storeManifest(manifestKey, key, hashes);
      await this.#evict();
      return {
        objectPath,
        hash: key,
        cached: false,
        diagnostics: warnings,
        clangRunsMs: { preprocess: Math.round(pre.elapsedMs), compile: Math.round(outcome.compileMs ?? 0) },
      };
    } finally {
      if (work) await rm(work, { recursive: true, force: true });
    }
  }

  #timeoutMessage(): string {
    return `compilation exceeded the ${this.#timeoutMs} ms time limit and was killed`;
  }

  #tooLargeMessage(size?: number): string {
    const actual = size === undefined ? "" : ` (${size} bytes)`;
    return `the compiled object${actual} exceeds the ${this.#maxObjectBytes}-byte limit`;
  }

  #failureDetail(signal: NodeJS.Signals | null, exitCode: number | null, diagnostics: Diagnostic[]): string {
    if (diagnostics.some((d) => d.severity === "error")) return summarizeErrors(diagnostics);
    // Raw stderr is not echoed: a crash dump can quote tokens of the file being parsed.
    return `clang failed without a diagnostic (${signal ?? `exit code ${exitCode}`})`;
  }
}
