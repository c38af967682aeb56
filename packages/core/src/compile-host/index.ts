/**
 * `@ebpf-operator/core/compile-host`: what a process that only compiles needs (the compiler, the
 * logger, CLI flag helpers, the listen-address parser), without the agent runtime that the main
 * entry loads (plugins, decoders, schemas, the DI container). The operator's `compile-server`
 * imports only this, so it stays a small process: every clang spawn is a fork of it, and that
 * cost grows with its RSS (docs/compiler.md, "What a compile costs").
 */
export { BpfCompiler, COMPILER_DEFAULTS, CompileError, CompileMetrics } from "../compiler/index.js";
export type { ClangRunsMs, CompileErrorCode, CompilerOptions, Diagnostic, ToolchainInfo } from "../compiler/index.js";
export { describeError, operatorError } from "../errors.js";
export { createLogger, type Logger } from "../logger.js";
export { helpAsked, parseCommand, parseLogLevel, runCli, signalled, type CliSpec } from "../host/flags.js";
export { parseListenAddress, type ListenAddress } from "../server/http-server.js";
