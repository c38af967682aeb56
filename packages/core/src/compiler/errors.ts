/**
 * Errors raised by the BPF compiler. Self-contained on purpose: the codes follow the project's
 * `EOP_ERR_<AREA>_<WHAT>` scheme and are documented in docs/compiler.md, from where they will be
 * merged into the project-wide registry (packages/core/src/errors.ts, docs/errors.md).
 */
import type { Diagnostic } from "./diagnostics.js";

export const COMPILE_ERROR_CODES = {
  EOP_ERR_COMPILE_FAILED: "clang rejected the program (see the diagnostics)",
  EOP_ERR_COMPILE_INCLUDE_REFUSED:
    "the program includes a file outside the compiler's include directories, or uses a construct that could read one",
  EOP_ERR_COMPILE_TIMEOUT: "compilation exceeded the wall-time limit and was killed",
  EOP_ERR_COMPILE_OUTPUT_TOO_LARGE: "the object (or the preprocessed source) exceeded the size limit",
  EOP_ERR_COMPILE_TOOLCHAIN_MISSING: "clang (or another required tool) was not found or did not run",
} as const;

export type CompileErrorCode = keyof typeof COMPILE_ERROR_CODES;

export class CompileError extends Error {
  readonly code: CompileErrorCode;
  /** Structured clang diagnostics (errors, warnings, notes); empty when clang never ran. */
  readonly diagnostics: Diagnostic[];
  constructor(code: CompileErrorCode, message: string, options: { diagnostics?: Diagnostic[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CompileError";
    this.code = code;
    this.diagnostics = options.diagnostics ?? [];
  }
}
