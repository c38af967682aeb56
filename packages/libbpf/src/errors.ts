import { constants } from "node:os";

/**
 * Names preferred over Node's: kernel-internal errno values that `os.constants.errno` does not
 * know but bpf() returns, and the kernel's spelling where Node has aliases (95 is EOPNOTSUPP).
 */
const KERNEL_ERRNO_NAMES: ReadonlyMap<number, string> = new Map([
  [11, "EAGAIN"],
  [95, "EOPNOTSUPP"],
  [512, "ERESTARTSYS"],
  [524, "ENOTSUPP"],
]);

let errnoNames: Map<number, string> | undefined;

/**
 * The symbolic name of an errno value (`2` → `"ENOENT"`), including the kernel-internal
 * `ENOTSUPP` (524) that bpf() leaks to user space. Unknown values map to `"E<number>"`.
 */
export function errnoCode(errno: number): string {
  if (errnoNames === undefined) {
    errnoNames = new Map();
    for (const [name, value] of Object.entries(constants.errno)) {
      if (!errnoNames.has(value)) errnoNames.set(value, name);
    }
  }
  const n = Math.abs(errno);
  return KERNEL_ERRNO_NAMES.get(n) ?? errnoNames.get(n) ?? `E${n}`;
}

/** The last non-empty line of a multi-line log, trimmed; `""` if there is none. */
export function lastLine(log: string, skip?: (line: string) => boolean): string {
  const lines = log.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = (lines[i] ?? "").trim();
    if (line !== "" && !(skip?.(line) ?? false)) return line;
  }
  return "";
}

/** Options for {@link LibbpfError}. */
export interface LibbpfErrorOptions {
  /** strerror text for the errno; defaults to the errno's code. */
  description?: string;
  /** Whatever libbpf printed while the failing call ran. */
  libbpfLog?: string;
  cause?: unknown;
}

/**
 * A libbpf or bpf() call failed.
 *
 * `errno` is always positive; `code` is its symbolic name (`"EPERM"`, `"ENOTSUPP"`, ...).
 * `libbpfLog` holds everything libbpf printed during the failing call (it is also what libbpf
 * would have written to stderr); its last line is appended to the message.
 */
export class LibbpfError extends Error {
  /** The operation that failed, e.g. `bpf_object__open_file(/tmp/x.o)` or `bpf_link_create(...)`. */
  readonly op: string;
  /** Positive errno value. */
  readonly errno: number;
  /** Symbolic errno name, e.g. `ENOENT`. */
  readonly code: string;
  /** libbpf's own output captured during the call; `""` when it printed nothing. */
  readonly libbpfLog: string;

  constructor(op: string, errno: number, options: LibbpfErrorOptions = {}) {
    const n = Math.abs(errno);
    const code = errnoCode(n);
    const libbpfLog = options.libbpfLog ?? "";
    let message = `${op}: ${options.description ?? code} (${code})`;
    const last = lastLine(libbpfLog);
    if (last !== "") message += `; ${last.startsWith("libbpf:") ? last : `libbpf: ${last}`}`;
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "LibbpfError";
    this.op = op;
    this.errno = n;
    this.code = code;
    this.libbpfLog = libbpfLog;
  }
}

/** Options for {@link BpfLoadError}. */
export interface BpfLoadErrorOptions extends LibbpfErrorOptions {
  /** The kernel verifier log of the failing program. */
  verifierLog?: string;
  /** Name of the program the kernel rejected, when known. */
  program?: string;
}

const VERIFIER_SUMMARY = /^(processed \d+ insns|verification time|stack depth|max_states_per_insn)/;

/**
 * Loading a `BpfObject` failed, usually because the verifier rejected a program.
 *
 * `verifierLog` holds the verifier's output for the failing program (libbpf retries a failed
 * load with log level 1, so the log is filled even when no `logLevel` was requested); `program`
 * names that program. The message ends with the verifier's last diagnostic line.
 */
export class BpfLoadError extends LibbpfError {
  /** The kernel verifier log; `""` if the failure happened before the verifier ran. */
  readonly verifierLog: string;
  /** The program that failed to load, when libbpf got as far as loading programs. */
  readonly program?: string;

  constructor(op: string, errno: number, options: BpfLoadErrorOptions = {}) {
    super(op, errno, options);
    this.name = "BpfLoadError";
    this.verifierLog = options.verifierLog ?? "";
    if (options.program !== undefined) this.program = options.program;
    if (options.program !== undefined) {
      // Name the program and the verifier's verdict instead of libbpf's generic last line.
      const diagnostic = lastLine(this.verifierLog, (l) => VERIFIER_SUMMARY.test(l));
      this.message = `${op}: ${options.description ?? this.code} (${this.code}); program '${options.program}'`;
      this.message += diagnostic !== "" ? ` rejected by the verifier: ${diagnostic}` : " failed to load";
    }
  }
}

/**
 * A method was called on a handle after `close()`. Handles never reopen: get a new one from
 * `BpfObject`, `openPinned` or `fromId`.
 */
export class ClosedError extends Error {
  constructor(what: string) {
    super(`${what} is closed`);
    this.name = "ClosedError";
  }
}

/** Shape of the error details the native addon hands to {@link createNativeError}. */
export interface NativeErrorDetail {
  kind: "libbpf" | "load";
  op: string;
  errno: number;
  message: string;
  libbpfLog: string;
  verifierLog?: string;
  program?: string;
}

/** Builds the JS error the native addon throws. Registered with the addon by `native.ts`. */
export function createNativeError(detail: NativeErrorDetail): Error {
  const options: BpfLoadErrorOptions = { description: detail.message, libbpfLog: detail.libbpfLog };
  if (detail.kind === "load") {
    options.verifierLog = detail.verifierLog ?? "";
    if (detail.program !== undefined) options.program = detail.program;
    return new BpfLoadError(detail.op, detail.errno, options);
  }
  return new LibbpfError(detail.op, detail.errno, options);
}
