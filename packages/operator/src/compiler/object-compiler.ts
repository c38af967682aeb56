/**
 * What the operator needs from a compiler: C in, the object's bytes out. Two implementations:
 * the compiler in this process (LocalObjectCompiler: development, tests) and the compile server
 * in its own container (RemoteObjectCompiler, over a Unix socket: the deployment), which keeps
 * tenant compiles off the file system that holds the operator's service-account token.
 */
import { readFile } from "node:fs/promises";
import type { BpfCompiler, ClangRunsMs, Diagnostic, ToolchainInfo } from "@ebpf-operator/core";

export interface ObjectCompileRequest {
  source: string;
  /** `namespace/name`, for messages. */
  label: string;
  /** The namespace: compiles queue fairly across namespaces. */
  tenant: string;
}

export interface CompiledObject {
  hash: string;
  cached: boolean;
  object: Buffer;
  diagnostics: Diagnostic[];
  durationMs: number;
  queueWaitMs: number;
  /** Wall ms of the clang runs (absent on a cache hit). */
  clangRunsMs?: ClangRunsMs;
}

export interface ObjectCompiler {
  /** Throws CompileError for what the program is to blame for; anything else is transient. */
  compile(request: ObjectCompileRequest): Promise<CompiledObject>;
  /** The toolchain and sandbox in use (for the start-up log). */
  info(): Promise<ToolchainInfo>;
}

export class LocalObjectCompiler implements ObjectCompiler {
  constructor(private readonly compiler: BpfCompiler) {}

  async compile(request: ObjectCompileRequest): Promise<CompiledObject> {
    const result = await this.compiler.compile(request);
    return {
      hash: result.hash,
      cached: result.cached,
      object: await readFile(result.objectPath),
      diagnostics: result.diagnostics,
      durationMs: result.durationMs,
      queueWaitMs: result.queueWaitMs,
      ...(result.clangRunsMs ? { clangRunsMs: result.clangRunsMs } : {}),
    };
  }

  info(): Promise<ToolchainInfo> {
    return this.compiler.toolchainInfo();
  }
}
