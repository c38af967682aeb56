/**
 * Errors raised by the BPF compiler. Their codes (`EOP_ERR_COMPILE_*`) are in the project's one
 * registry (../errors.ts, docs/errors.md); docs/compiler.md explains them in the compiler's terms.
 */
import type { ErrorCode } from "../errors.js";
import type { Diagnostic } from "./diagnostics.js";

export type CompileErrorCode = Extract<ErrorCode, `EOP_ERR_COMPILE_${string}`>;

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
