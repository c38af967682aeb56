export { BpfCompiler, COMPILER_DEFAULTS, MAX_PREPROCESSED_BYTES, findDefaultIncludeDir } from "./compiler.js";
export { CompileMetrics } from "./compile-metrics.js";
export type { CompileOutcome } from "./compile-metrics.js";
export type { SandboxSetting, SandboxStatus } from "./sandbox.js";
export type { CompileRequest, CompileResult, CompilerOptions, ToolchainInfo } from "./compiler.js";
export type { Diagnostic, Severity } from "./diagnostics.js";
export { CompileError } from "./errors.js";
export type { CompileErrorCode } from "./errors.js";
export { targetArchDefine } from "./toolchain.js";
