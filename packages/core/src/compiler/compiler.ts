/**
 * BpfCompiler: untrusted eBPF C in, a cached BPF ELF object out. See docs/compiler.md.
 *
 * Each compile runs clang twice, never through a shell: `clang -E` first, whose line markers and
 * output are checked against the include policy (include-policy.ts), then the real compile of the
 * same source with the same flags. Both runs are time-, memory- and file-size-limited.
 */
import { mkdir, mkdtemp, readFile, realpath, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "../logger.js";
import { CompileCache, cacheKey, hashDirectory } from "./compile-cache.js";
import type { Diagnostic, FileVisibility } from "./diagnostics.js";
import { WITHHELD_MESSAGE, parseClangDiagnostics, sanitizeDiagnostics, summarizeErrors } from "./diagnostics.js";
import type { CompileErrorCode } from "./errors.js";
import { CompileError } from "./errors.js";
import type { FilePolicy, PolicyViolation } from "./include-policy.js";
import { findAsmFileInclusion, findOutsideFile, isFileAllowed, parseLineMarkers, prescanSource } from "./include-policy.js";
import type { ResourceLimits, RunResult } from "./run-tool.js";
import { runTool } from "./run-tool.js";
import type { ClangInfo } from "./toolchain.js";
import { bpftoolVersion, findBpftool, findExecutable, findPrlimit, multiarchTriple, probeClang, targetArchDefine } from "./toolchain.js";
import type { VmlinuxHeader } from "./vmlinux.js";
import { DEFAULT_BTF_PATH, ensureVmlinuxHeader } from "./vmlinux.js";

export interface CompileRequest {
  source: string;
  /** Names the program in messages, e.g. the resource "default/syscall-monitor". */
  label: string;
}

export interface CompileResult {
  objectPath: string;
  /** The cache key; equal keys mean byte-identical inputs and toolchain. */
  hash: string;
  cached: boolean;
  /** Warnings (and their notes) from a successful compile; replayed on cache hits. */
  diagnostics: Diagnostic[];
  durationMs: number;
}

export interface CompilerOptions {
  /** Holds objects/, vmlinux/ and tmp/ (build directories). Created if missing. */
  cacheDir: string;
  /** Directory with ebpf-operator/prelude.h; default: the repository's (or package's) bpf/include. */
  includeDir?: string;
  /** Default "clang" (PATH). */
  clangPath?: string;
  /** Wall-time limit per compile (both clang runs), default 30 s. */
  timeoutMs?: number;
  /** Largest accepted object, default 16 MiB. */
  maxObjectBytes?: number;
  /** clang's address-space limit (prlimit --as), default 2 GiB. */
  memoryLimitBytes?: number;
  /** Compiles running at once, default 2. */
  concurrency?: number;
  /** Extra `-D` defines: `true` → `-DNAME`, otherwise `-DNAME=value`. */
  extraDefines?: Record<string, string | number | boolean>;
  /** Default: bpftool on PATH, /usr/sbin/bpftool, /usr/bin/bpftool. */
  bpftoolPath?: string;
  /** Kernel BTF for vmlinux.h, default /sys/kernel/btf/vmlinux. */
  btfPath?: string;
  /** prlimit binary; default: found on PATH. `false` runs clang without resource limits. */
  prlimitPath?: string | false;
  logger?: Pick<Logger, "debug" | "warn">;
}

export interface ToolchainInfo {
  /** First line of `clang --version`. */
  clang: string;
  bpftool?: string;
  /** Path of the generated vmlinux.h, when it could be generated. */
  vmlinux?: string;
  vmlinuxUnavailableReason?: string;
  /** "prlimit" when memory/file-size limits are enforced, "none" otherwise. */
  resourceLimits: "prlimit" | "none";
}

export const COMPILER_DEFAULTS = {
  clangPath: "clang",
  timeoutMs: 30_000,
  maxObjectBytes: 16 * 1024 * 1024,
  memoryLimitBytes: 2 * 1024 * 1024 * 1024,
  concurrency: 2,
} as const;

/** `clang -E` output limit: vmlinux.h alone preprocesses to a few MB. */
const MAX_PREPROCESSED_BYTES = 64 * 1024 * 1024;
/** Captured stdout/stderr per clang run. */
const MAX_CAPTURE_BYTES = 1024 * 1024;
const SOURCE_NAME = "program.bpf.c";
/** What the build directory is called in debug info and __FILE__, so objects are reproducible. */
const STABLE_BUILD_DIR = "/ebpf-operator";
const PRELUDE = join("ebpf-operator", "prelude.h");
const SYSTEM_INCLUDE = "/usr/include";

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
  limits?: Omit<ResourceLimits, "fileSizeBytes">;
  bpftool?: string;
  vmlinux: VmlinuxHeader;
  includeDir: string;
  includeHash: string;
  /** Flags shared by both clang runs, independent of the build directory. */
  flags: string[];
  allowedDirs: string[];
}

/** A counting semaphore: at most `size` compiles hold a slot. */
class Limiter {
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  constructor(readonly size: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.size) await new Promise<void>((wake) => this.#waiting.push(wake));
    else this.#active++;
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}

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

export class BpfCompiler {
  readonly #options: CompilerOptions;
  readonly #timeoutMs: number;
  readonly #maxObjectBytes: number;
  readonly #memoryLimitBytes: number;
  readonly #defines: string[];
  readonly #cache: CompileCache;
  readonly #limiter: Limiter;
  #setup: Promise<Setup> | undefined;

  constructor(options: CompilerOptions) {
    this.#options = { ...options, cacheDir: resolve(options.cacheDir) };
    this.#timeoutMs = positive("timeoutMs", options.timeoutMs, COMPILER_DEFAULTS.timeoutMs);
    this.#maxObjectBytes = positive("maxObjectBytes", options.maxObjectBytes, COMPILER_DEFAULTS.maxObjectBytes, true);
    this.#memoryLimitBytes = positive("memoryLimitBytes", options.memoryLimitBytes, COMPILER_DEFAULTS.memoryLimitBytes, true);
    this.#limiter = new Limiter(positive("concurrency", options.concurrency, COMPILER_DEFAULTS.concurrency, true));
    this.#defines = defineFlags(options.extraDefines);
    this.#cache = new CompileCache(this.#options.cacheDir);
  }

  async toolchainInfo(): Promise<ToolchainInfo> {
    const setup = await this.#prepare();
    const info: ToolchainInfo = {
      clang: setup.clang.version.split("\n")[0] ?? setup.clang.version,
      resourceLimits: setup.limits ? "prlimit" : "none",
    };
    if (setup.bpftool) info.bpftool = await bpftoolVersion(setup.bpftool).catch(() => setup.bpftool as string);
    if (setup.vmlinux.available) info.vmlinux = setup.vmlinux.headerPath;
    else if (setup.vmlinux.reason !== undefined) info.vmlinuxUnavailableReason = setup.vmlinux.reason;
    return info;
  }

  async compile(request: CompileRequest): Promise<CompileResult> {
    const started = performance.now();
    const fail = (code: CompileErrorCode, detail: string, diagnostics?: Diagnostic[], cause?: unknown): CompileError =>
      new CompileError(code, `compile EbpfMap ${JSON.stringify(request.label)}: ${detail}`, { diagnostics, cause });

    // Cheapest check first, before any tool runs.
    const violation = prescanSource(request.source);
    if (violation) throw fail("EOP_ERR_COMPILE_INCLUDE_REFUSED", ...this.#describeViolation(violation));

    const setup = await this.#prepare();
    const key = cacheKey({
      source: request.source,
      flags: JSON.stringify(setup.flags),
      clang: setup.clang.version,
      vmlinux: setup.vmlinux.hash,
      include: setup.includeHash,
    });
    const elapsed = (): number => Math.round(performance.now() - started);
    const hit = async (): Promise<CompileResult | undefined> => {
      const cached = await this.#cache.lookup(key);
      return cached && { ...cached, hash: key, cached: true, durationMs: elapsed() };
    };
    const early = await hit();
    if (early) return early;
    return this.#limiter.run(async () => {
      // An identical compile may have finished while this one waited for a slot.
      const late = await hit();
      if (late) return late;
      const { objectPath, diagnostics } = await this.#build(request.source, setup, key, fail);
      return { objectPath, hash: key, cached: false, diagnostics, durationMs: elapsed() };
    });
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
    const clang = await probeClang(o.clangPath ?? COMPILER_DEFAULTS.clangPath);
    const includeDir = resolve(o.includeDir ?? (await findDefaultIncludeDir()));
    try {
      await stat(join(includeDir, PRELUDE));
    } catch (cause) {
      throw new CompileError("EOP_ERR_COMPILE_TOOLCHAIN_MISSING", `includeDir ${includeDir} has no ${PRELUDE}`, { cause });
    }

    let limits: Setup["limits"];
    let prlimit: string | undefined;
    if (o.prlimitPath !== false) prlimit = o.prlimitPath ? await findExecutable(o.prlimitPath) : await findPrlimit();
    if (prlimit) limits = { prlimitPath: prlimit, addressSpaceBytes: this.#memoryLimitBytes };
    else if (o.prlimitPath !== false) {
      o.logger?.warn(
        { prlimitPath: o.prlimitPath },
        "prlimit (util-linux) not available: clang runs without memory and file-size limits; only the time limit and post-build size check apply",
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
    const isystem = [clang.resourceInclude, includeDir, vmlinux.dir, ...(triple ? [join(SYSTEM_INCLUDE, triple)] : []), SYSTEM_INCLUDE];
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
    ];
    o.logger?.debug({ clang: clang.path, flags, limits: limits ? "prlimit" : "none" }, "bpf compiler ready");
    const setup: Setup = {
      clang,
      vmlinux,
      includeDir,
      includeHash: await hashDirectory(includeDir),
      flags,
      allowedDirs: await existingRealDirs(isystem),
    };
    if (limits) setup.limits = limits;
    if (bpftool) setup.bpftool = bpftool;
    return setup;
  }

  async #build(
    source: string,
    setup: Setup,
    key: string,
    fail: (code: CompileErrorCode, detail: string, diagnostics?: Diagnostic[], cause?: unknown) => CompileError,
  ): Promise<{ objectPath: string; diagnostics: Diagnostic[] }> {
    const deadline = performance.now() + this.#timeoutMs;
    // The build directory lives in the cache so the object can be renamed into place. The
    // program sits alone in src/: a quoted include searches the program's own directory first.
    const tmpRoot = join(this.#options.cacheDir, "tmp");
    await mkdir(tmpRoot, { recursive: true });
    const work = await mkdtemp(join(tmpRoot, "build-"));
    try {
      const srcDir = join(work, "src");
      const outDir = join(work, "out");
      await mkdir(srcDir);
      await mkdir(outDir);
      const sourcePath = join(srcDir, SOURCE_NAME);
      await writeFile(sourcePath, source);
      const policy: FilePolicy = {
        sourcePaths: [...new Set([sourcePath, await realpath(sourcePath)])],
        allowedDirs: setup.allowedDirs,
        cwd: work,
      };
      const classify = async (file: string): Promise<FileVisibility> => {
        if (policy.sourcePaths.includes(resolve(work, file))) return { kind: "code" };
        return (await isFileAllowed(file, policy)) ? { kind: "visible", name: file } : { kind: "withheld" };
      };
      const flags = [...setup.flags, `-ffile-prefix-map=${work}=${STABLE_BUILD_DIR}`];

      const run = async (args: string[], fileSizeBytes: number, stage: string): Promise<RunResult> => {
        const remaining = deadline - performance.now();
        if (remaining <= 0) throw fail("EOP_ERR_COMPILE_TIMEOUT", this.#timeoutMessage());
        let result: RunResult;
        try {
          result = await runTool(setup.clang.path, args, {
            timeoutMs: remaining,
            maxCaptureBytes: MAX_CAPTURE_BYTES,
            cwd: work,
            ...(setup.limits ? { limits: { ...setup.limits, fileSizeBytes } } : {}),
          });
        } catch (cause) {
          throw fail("EOP_ERR_COMPILE_TOOLCHAIN_MISSING", `could not run ${setup.clang.path} (${stage}): ${String(cause)}`, [], cause);
        }
        if (result.timedOut) throw fail("EOP_ERR_COMPILE_TIMEOUT", this.#timeoutMessage());
        return result;
      };

      // Stage 1: preprocess, then check every file clang opened and the asm it will assemble.
      const preprocessedPath = join(outDir, "program.i");
      const pre = await run([...flags, "-E", sourcePath, "-o", preprocessedPath], MAX_PREPROCESSED_BYTES, "preprocess");
      if (pre.signal === "SIGXFSZ") {
        throw fail("EOP_ERR_COMPILE_OUTPUT_TOO_LARGE", `the preprocessed program exceeds ${MAX_PREPROCESSED_BYTES} bytes`);
      }
      if (pre.exitCode !== 0) {
        const diagnostics = await sanitizeDiagnostics(parseClangDiagnostics(pre.stderr), classify);
        if (diagnostics.some((d) => d.file === "<withheld>")) {
          throw fail(
            "EOP_ERR_COMPILE_INCLUDE_REFUSED",
            `the preprocessor read a file outside the allowed include directories (${WITHHELD_MESSAGE})`,
            diagnostics,
          );
        }
        throw fail("EOP_ERR_COMPILE_FAILED", this.#failureDetail(pre, diagnostics), diagnostics);
      }
      if ((await stat(preprocessedPath)).size > MAX_PREPROCESSED_BYTES) {
        throw fail("EOP_ERR_COMPILE_OUTPUT_TOO_LARGE", `the preprocessed program exceeds ${MAX_PREPROCESSED_BYTES} bytes`);
      }
      const preprocessed = await readFile(preprocessedPath, "utf8");
      const outside = await findOutsideFile(parseLineMarkers(preprocessed), policy);
      if (outside) {
        const from = outside.includedFrom;
        const fromText = from ? ` (included from ${policy.sourcePaths.includes(resolve(work, from.file)) ? "<code>" : from.file}:${from.line})` : "";
        const detail = `include refused: ${JSON.stringify(outside.file)}${fromText} is outside the allowed include directories`;
        const line = from && policy.sourcePaths.includes(resolve(work, from.file)) ? from.line : 0;
        throw fail("EOP_ERR_COMPILE_INCLUDE_REFUSED", detail, [{ severity: "error", line, column: line ? 1 : 0, file: "<code>", message: detail }]);
      }
      const asm = findAsmFileInclusion(preprocessed, policy.sourcePaths);
      if (asm) throw fail("EOP_ERR_COMPILE_INCLUDE_REFUSED", ...this.#describeViolation(asm));

      // Stage 2: compile the same source with the same flags.
      const objectPath = join(outDir, "program.o");
      const result = await run([...flags, "-c", sourcePath, "-o", objectPath], this.#maxObjectBytes, "compile");
      const diagnostics = await sanitizeDiagnostics(parseClangDiagnostics(result.stderr), classify);
      if (result.signal === "SIGXFSZ") throw fail("EOP_ERR_COMPILE_OUTPUT_TOO_LARGE", this.#tooLargeMessage(), diagnostics);
      if (result.exitCode !== 0) throw fail("EOP_ERR_COMPILE_FAILED", this.#failureDetail(result, diagnostics), diagnostics);
      const size = (await stat(objectPath)).size;
      if (size > this.#maxObjectBytes) throw fail("EOP_ERR_COMPILE_OUTPUT_TOO_LARGE", this.#tooLargeMessage(size), diagnostics);
      const warnings = diagnostics.filter((d) => d.severity !== "error");
      return { objectPath: await this.#cache.store(key, objectPath, warnings), diagnostics: warnings };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  #timeoutMessage(): string {
    return `compilation exceeded the ${this.#timeoutMs} ms time limit and was killed`;
  }

  #tooLargeMessage(size?: number): string {
    const actual = size === undefined ? "" : ` (${size} bytes)`;
    return `the compiled object${actual} exceeds the ${this.#maxObjectBytes}-byte limit`;
  }

  #failureDetail(result: RunResult, diagnostics: Diagnostic[]): string {
    // Below ~300 MB of address space clang cannot even map its shared libraries.
    if (/out of memory|Cannot allocate memory|std::bad_alloc|failed to map segment/i.test(result.stderr)) {
      return `clang ran out of memory (limit ${this.#memoryLimitBytes} bytes)`;
    }
    if (diagnostics.some((d) => d.severity === "error")) return summarizeErrors(diagnostics);
    // Raw stderr is not echoed: a crash dump can quote tokens of the file being parsed.
    return `clang failed without a diagnostic (${result.signal ?? `exit code ${result.exitCode}`})`;
  }
}
