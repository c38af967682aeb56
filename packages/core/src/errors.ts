/**
 * The project's error registry: every error a user can meet has a stable code
 * (`EOP_ERR_<AREA>_<WHAT>`), a lower-case message naming the objects involved, and the
 * underlying error as `cause`. `docs/errors.md` documents every code (a test keeps the two in
 * step), so a code in a log or a status condition can always be looked up.
 */

export class EbpfOperatorError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EbpfOperatorError";
    this.code = code;
  }
}

/**
 * Whose fault an error is: `spec` — the resource as written (its YAML, its C code, its metrics)
 * and only an edit of it fixes it; `system` — the node, the agent's configuration or a plugin,
 * for the cluster's administrators. Statuses and docs/errors.md say which.
 */
export type ErrorFault = "spec" | "system";

export interface ErrorCodeInfo {
  /** One line: what went wrong. docs/errors.md says more and how to fix it. */
  readonly meaning: string;
  readonly fault: ErrorFault;
}

/**
 * Every code the project raises, with its meaning and whose fault it is. docs/errors.md has one
 * row per code, with the same fault (test/unit/error-docs.test.ts reads this registry).
 */
export const ERROR_CODES = {
  EOP_ERR_MANIFEST_YAML: { meaning: "the file is not valid YAML", fault: "spec" },
  EOP_ERR_MANIFEST_INVALID: { meaning: "the EbpfMap does not match the schema", fault: "spec" },
  EOP_ERR_MANIFEST_DUPLICATE: { meaning: "two manifests declare the same namespace/name", fault: "spec" },
  EOP_ERR_COMPILE_FAILED: { meaning: "clang rejected the program (see the diagnostics)", fault: "spec" },
  EOP_ERR_COMPILE_INCLUDE_REFUSED: {
    meaning: "the program includes a file outside the compiler's include directories, or uses a construct that could read one",
    fault: "spec",
  },
  EOP_ERR_COMPILE_TIMEOUT: { meaning: "compilation exceeded the wall-time or CPU-time limit and was killed", fault: "spec" },
  EOP_ERR_COMPILE_MEMORY_LIMIT: { meaning: "clang exceeded the per-compile memory limit", fault: "spec" },
  EOP_ERR_COMPILE_OUTPUT_TOO_LARGE: { meaning: "the object (or the preprocessed source) exceeded the size limit", fault: "spec" },
  EOP_ERR_COMPILE_TOOLCHAIN_MISSING: { meaning: "clang (or another required tool) was not found or did not run", fault: "system" },
  EOP_ERR_COMPILE_SANDBOX_UNAVAILABLE: { meaning: "the compiler sandbox is required but could not be set up", fault: "system" },
  EOP_ERR_OBJECT_TOO_LARGE: { meaning: "the compiled object is larger than a ConfigMap can carry to the nodes", fault: "spec" },
  EOP_ERR_OBJECT_FETCH: { meaning: "the agent could not fetch the object the operator published, or its SHA-256 did not match", fault: "system" },
  EOP_ERR_PLUGIN_LOAD: { meaning: "a configured plugin package could not be imported", fault: "system" },
  EOP_ERR_PLUGIN_INVALID: { meaning: "a plugin package does not export a valid ProgramTypePlugin", fault: "system" },
  EOP_ERR_PLUGIN_API_VERSION: { meaning: "a plugin implements a plugin-API version this core does not support", fault: "system" },
  EOP_ERR_PLUGIN_CONFLICT: { meaning: "two plugins claim the same program type", fault: "system" },
  EOP_ERR_PROGRAM_TYPE_UNKNOWN: { meaning: "no loaded plugin handles the resource's program type", fault: "spec" },
  EOP_ERR_TARGET_INVALID: { meaning: "the target is not valid for the program type", fault: "spec" },
  EOP_ERR_TARGET_NOT_FOUND: { meaning: "the attach point does not exist on this kernel", fault: "spec" },
  EOP_ERR_KERNEL_UNSUPPORTED: { meaning: "the kernel lacks a feature the program type needs", fault: "system" },
  EOP_ERR_POD_SCOPE_UNSUPPORTED: {
    meaning: "spec.selector asks for pod scope that this agent cannot give the program type (or, for xdp and socket, per container)",
    fault: "spec",
  },
  EOP_ERR_POD_CGROUP_NOT_FOUND: {
    meaning:
      "a pod the selector selects (or its container named by spec.selector.container) has no cgroup v2 on this node (no cgroup v2 hierarchy, not started yet, or kept out of it by its runtime)",
    fault: "system",
  },
  EOP_ERR_KERNEL_MOUNT: { meaning: "bpffs or tracefs is not mounted and mounting it failed", fault: "system" },
  EOP_ERR_PROGRAM_NOT_FOUND: { meaning: "spec.program names no program in the compiled code", fault: "spec" },
  EOP_ERR_MAP_NOT_FOUND: { meaning: "spec.map names no map in the compiled code", fault: "spec" },
  EOP_ERR_MAP_VALUE_UNSUPPORTED: { meaning: "the map's value is not an integer the metric can export", fault: "spec" },
  EOP_ERR_METRIC_INVALID: { meaning: "a spec.metrics entry does not fit its map's key or value types, or a decoder's options are wrong", fault: "spec" },
  EOP_ERR_DECODER_UNKNOWN: { meaning: "a label names a decoder that no one registered", fault: "spec" },
  EOP_ERR_DECODER_CONFLICT: { meaning: "a plugin contributes a decoder whose name core or another plugin already has", fault: "system" },
  EOP_ERR_OBJECT_INVALID: { meaning: "the compiled object is not a BPF ELF object the agent can inspect", fault: "spec" },
  EOP_ERR_OBJECT_REFUSED: {
    meaning: "the compiled object breaks a rule: a helper, kfunc, map, program type or observe-mode restriction",
    fault: "spec",
  },
  EOP_ERR_LOAD_VERIFIER: { meaning: "the kernel verifier rejected the program", fault: "spec" },
  EOP_ERR_LOAD_FAILED: { meaning: "the object could not be opened or loaded", fault: "system" },
  EOP_ERR_ATTACH_FAILED: { meaning: "attaching the program failed", fault: "system" },
  EOP_ERR_ATTACH_REFUSED: {
    meaning: "the kernel refuses to attach the program as written at its target (a tracepoint program reading past the event's record)",
    fault: "spec",
  },
  EOP_ERR_PIN_FAILED: { meaning: "pinning or adopting pinned objects failed", fault: "system" },
  EOP_ERR_PLUGIN_FAILED: { meaning: "a plugin threw an unexpected error while handling a resource", fault: "system" },
  EOP_ERR_METRIC_CONFLICT: { meaning: "another resource exports the same metric name with another type or help", fault: "spec" },
  EOP_ERR_POLICY_REFUSED: { meaning: "the namespace's tenancy policy refuses the resource (or keeps it off this node)", fault: "spec" },
  EOP_ERR_MAP_READ: { meaning: "reading a map at scrape time failed", fault: "system" },
  EOP_ERR_CONFIG: { meaning: "a command line or configuration is invalid", fault: "system" },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string | undefined): code is ErrorCode {
  return code !== undefined && Object.hasOwn(ERROR_CODES, code);
}

/** Whose fault an error is, by its code; undefined for errors without one of our codes. */
export function errorFault(error: unknown): ErrorFault | undefined {
  const code = errorCode(error);
  return isErrorCode(code) ? ERROR_CODES[code].fault : undefined;
}

export function operatorError(code: ErrorCode, message: string, cause?: unknown): EbpfOperatorError {
  return new EbpfOperatorError(code, message, cause === undefined ? undefined : { cause });
}

/** Errors that already carry one of our codes pass through; anything else is wrapped. */
export function withCode(code: ErrorCode, message: string, error: unknown): Error {
  const existing = errorCode(error);
  if (existing?.startsWith("EOP_ERR_")) return error as Error;
  return operatorError(code, message, error);
}

/** The code of any error: ours, libbpf's (`LibbpfError.code` is an errno name) or none. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** Whether an errno code (`EBUSY`) appears in an error's cause chain. */
export function hasErrno(error: unknown, codes: readonly string[]): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 8; depth++) {
    if (codes.includes(errorCode(current) ?? "")) return true;
    current = current.cause;
  }
  return false;
}

/** The message of an error followed by its causes, `: `-joined — what a status shows. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    if (current instanceof Error) {
      const message = current.message;
      // Wrappers often repeat their cause's text: show each piece once.
      if (!parts.some((part) => part.includes(message))) parts.push(message);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(": ");
}
