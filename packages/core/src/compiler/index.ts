export { BpfCompiler, COMPILER_DEFAULTS, findDefaultIncludeDir } from "./compiler.js";
export type { CompileRequest, CompileResult, CompilerOptions, ToolchainInfo } from "./compiler.js";
export type { Diagnostic, Severity } from "./diagnostics.js";
export { CompileError } from "./errors.js";
export type { CompileErrorCode } from "./errors.js";
export { targetArchDefine } from "./toolchain.js";
