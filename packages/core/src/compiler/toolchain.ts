/**
 * Discovery of the host toolchain: clang (version, resource dir), bpftool, prlimit, bwrap, and the
 * architecture-specific names clang and the system headers need.
 */
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { CompileError } from "./errors.js";
import { runTool } from "./run-tool.js";

const ARCH_DEFINES: Partial<Record<NodeJS.Architecture, string>> = {
  x64: "x86",
  arm64: "arm64",
  s390x: "s390",
  ppc64: "powerpc",
  riscv64: "riscv",
};

/** `-D__TARGET_ARCH_<arch>`, which <bpf/bpf_tracing.h> needs to read pt_regs for this host. */
export function targetArchDefine(arch: NodeJS.Architecture = process.arch): string {
  const name = ARCH_DEFINES[arch];
  if (name === undefined) {
    throw new CompileError(
      "EOP_ERR_COMPILE_TOOLCHAIN_MISSING",
      `no BPF target architecture is known for host architecture "${arch}" (supported: ${Object.keys(ARCH_DEFINES).join(", ")})`,
    );
  }
  return `__TARGET_ARCH_${name}`;
}

const MULTIARCH: Partial<Record<NodeJS.Architecture, string>> = {
  x64: "x86_64-linux-gnu",
  arm64: "aarch64-linux-gnu",
  s390x: "s390x-linux-gnu",
  ppc64: "powerpc64le-linux-gnu",
  riscv64: "riscv64-linux-gnu",
};

/** Debian's multiarch triple: where <asm/types.h> and friends live under /usr/include. */
export function multiarchTriple(arch: NodeJS.Architecture = process.arch): string | undefined {
  return MULTIARCH[arch];
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Resolves a program name like the shell would (PATH search), then tries `fallbacks`. Paths with
 * a slash are taken as given. Resolving up front lets a missing tool be reported as such, not as
 * a failure of the prlimit wrapper that would otherwise exec it.
 */
export async function findExecutable(name: string, fallbacks: readonly string[] = []): Promise<string | undefined> {
  if (name.includes("/")) return (await isExecutableFile(name)) ? name : undefined;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  for (const candidate of fallbacks) {
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

export function findBpftool(): Promise<string | undefined> {
  return findExecutable("bpftool", ["/usr/sbin/bpftool", "/usr/bin/bpftool", "/sbin/bpftool"]);
}

export function findBwrap(): Promise<string | undefined> {
  return findExecutable("bwrap", ["/usr/bin/bwrap"]);
}

export function findPrlimit(): Promise<string | undefined> {
  return findExecutable("prlimit", ["/usr/bin/prlimit", "/bin/prlimit"]);
}

const QUERY = { timeoutMs: 15_000, maxCaptureBytes: 64 * 1024 };

async function query(tool: string, args: string[]): Promise<string> {
  const result = await runTool(tool, args, QUERY);
  if (result.exitCode !== 0) {
    const detail = result.timedOut ? "timed out" : `exited with ${result.exitCode ?? result.signal}`;
    throw new CompileError("EOP_ERR_COMPILE_TOOLCHAIN_MISSING", `"${tool} ${args.join(" ")}" ${detail}: ${result.stderr.trim().slice(0, 500)}`);
  }
  return result.stdout;
}

export interface ClangInfo {
  path: string;
  /** Full `clang --version` output: part of every cache key, so a new clang recompiles. */
  version: string;
  /** `<resource dir>/include`: clang's own headers (stddef.h, stdint.h, ...). */
  resourceInclude: string;
}

export async function probeClang(clangPath: string): Promise<ClangInfo> {
  const path = await findExecutable(clangPath);
  if (path === undefined) {
    throw new CompileError(
      "EOP_ERR_COMPILE_TOOLCHAIN_MISSING",
      `clang not found (clangPath "${clangPath}"); install clang (Debian: apt-get install clang llvm) or set clangPath`,
    );
  }
  const version = (await query(path, ["--version"])).trim();
  const resourceDir = (await query(path, ["-print-resource-dir"])).trim();
  if (resourceDir === "") {
    throw new CompileError("EOP_ERR_COMPILE_TOOLCHAIN_MISSING", `"${path} -print-resource-dir" printed nothing`);
  }
  return { path, version, resourceInclude: join(resourceDir, "include") };
}

export async function bpftoolVersion(bpftoolPath: string): Promise<string> {
  return (await query(bpftoolPath, ["version"])).split("\n")[0]?.trim() ?? "";
}
