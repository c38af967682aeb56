/**
 * Both clang runs of a compile in one process tree (one prlimit, one bubblewrap, one spawn): a
 * fixed POSIX shell script of ours runs `clang -E` with its output on inherited pipes, reports
 * its exit status, then blocks reading the caller's verdict from another inherited pipe and only
 * on "compile" execs the second clang. Anything
 * else (a refusal, EOF because the caller died or closed the pipe) ends the script without a
 * second clang; the wall-time limit kills a script whose caller never answers.
 *
 * The script is built from argument counts and descriptor numbers only: clang's path and flags
 * arrive as positional parameters, which the shell passes on as words and never parses, and the
 * tenant's program reaches clang through files and pipes the shell never reads.
 */
import type { Writable } from "node:stream";
import type { ExtraStdio, RunResult } from "./run-tool.js";

/** The verdict line that lets the second stage run; anything else (or EOF) stops the script. */
export const COMPILE_VERDICT = "compile";

/** Where the stages' pipes are in the script's descriptor table: four in a row from `base`. */
export interface StageFds {
  /** Stage 1's stdout (the preprocessed text), read by the caller. */
  text: number;
  /** Stage 1's stderr (its diagnostics), read by the caller. */
  diagnostics: number;
  /** Stage 1's exit status as a decimal line, written after its text and diagnostics are closed. */
  status: number;
  /** The caller's verdict line. */
  verdict: number;
}

export function stageFds(base: number): StageFds {
  // dash redirects descriptors 0-9 only.
  if (!Number.isInteger(base) || base < 3 || base + 3 > 9) throw new RangeError(`stage descriptors must lie in 3..9, got ${base}..${base + 3}`);
  return { text: base, diagnostics: base + 1, status: base + 2, verdict: base + 3 };
}

/**
 * The script, for `sh -c <script> <name> <tool> <stage 1 args...> <stage 2 args...>`. Only the
 * counts and the descriptor numbers shape it; it never contains an argument's value.
 */
export function twoStageScript(preprocessArgc: number, compileArgc: number, fds: StageFds): string {
  const refs = (from: number, count: number): string => Array.from({ length: count }, (_, i) => ` "\${${from + i}}"`).join("");
  const { text, diagnostics, status, verdict } = fds;
  return [
    // Stage 1 sees neither the status nor the verdict pipe.
    `"$1"${refs(2, preprocessArgc)} >&${text} 2>&${diagnostics} ${status}>&- ${verdict}<&-`,
    "s=$?",
    `exec ${text}>&- ${diagnostics}>&-`,
    `echo "$s" >&${status}`,
    `exec ${status}>&-`,
    // read returns non-zero at EOF: a caller that died or refused never gets stage 2 run.
    `read -r v <&${verdict} || exit 0`,
    `[ "$v" = ${COMPILE_VERDICT} ] || exit 0`,
    `exec "$1"${refs(2 + preprocessArgc, compileArgc)} ${verdict}<&-`,
  ].join("\n");
}

/** How stage 1 ended, with what it wrote. */
export interface StageOne {
  /** clang's exit code, or null when a signal killed it (`signal`). */
  exitCode: number | null;
  signal?: NodeJS.Signals;
  text: Buffer;
  /** The text exceeded its limit: the whole run was killed. */
  overflow: boolean;
  stderr: string;
  /** From the spawn to the end of stage 1 (the sandbox's set-up included). */
  elapsedMs: number;
}

export interface TwoStageOutcome {
  /** The whole process tree's run; stdout/stderr are stage 2's (and the launcher's own messages). */
  run: RunResult;
  /** Absent when stage 1 never finished (set-up failure, timeout, abort, output limit). */
  stageOne?: StageOne;
  /** Whether the "compile" verdict was sent. */
  compiled: boolean;
  /** From the verdict to the end of the run, when stage 2 ran. */
  compileMs?: number;
}

const SIGNALS: Record<number, NodeJS.Signals> = { 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 24: "SIGXCPU", 25: "SIGXFSZ", 31: "SIGSYS" };

/**
 * Runs the two stages: `launch` starts the process tree with `stdio` at the descriptors `fds`
 * names (the launcher places them); `decide` gets stage 1's outcome and says whether to compile. A
 * `decide` that throws sends no verdict (the script ends) and its error is rethrown once the run
 * has ended, so no clang outlives the call.
 */
export async function runTwoStages(
  maxTextBytes: number,
  maxDiagnosticBytes: number,
  launch: (stdio: ExtraStdio[]) => Promise<RunResult>,
  decide: (stageOne: StageOne) => Promise<boolean>,
): Promise<TwoStageOutcome> {
  const started = performance.now();
  let verdictPipe: Writable | undefined;
  const ended = <T>(): { promise: Promise<T>; resolve: (value: T) => void } => {
    let resolve!: (value: T) => void;
    const promise = new Promise<T>((r) => (resolve = r));
    return { promise, resolve };
  };
  const text = ended<{ bytes: Buffer; overflow: boolean }>();
  const diagnostics = ended<Buffer>();
  const status = ended<Buffer>();
  const stdio: ExtraStdio[] = [
    { output: { maxBytes: maxTextBytes, onEnd: (bytes, overflow) => text.resolve({ bytes, overflow }) } },
    // Diagnostics beyond the capture limit would kill the run; clang's are far below it.
    { output: { maxBytes: maxDiagnosticBytes, onEnd: (bytes) => diagnostics.resolve(bytes) } },
    { output: { maxBytes: 64, onEnd: (bytes) => status.resolve(bytes) } },
    { input: (stream) => (verdictPipe = stream) },
  ];
  const running = launch(stdio);
  const stageOneDone = Promise.all([text.promise, diagnostics.promise, status.promise]).then(([t, d, s]) => {
    const elapsedMs = performance.now() - started;
    const code = /^(\d+)\n$/.exec(s.toString("latin1"));
    // No status line: the script was killed (or never started) before stage 1 ended.
    if (!code || t.overflow) return undefined;
    const n = Number(code[1]);
    const signal = n > 128 ? SIGNALS[n - 128] : undefined;
    const one: StageOne = { exitCode: signal ? null : n, text: t.bytes, overflow: t.overflow, stderr: d.toString("utf8"), elapsedMs };
    if (signal) one.signal = signal;
    return one;
  });
  const first = await Promise.race([stageOneDone.then((one) => ({ one })), running.then((run) => ({ run }))]);
  // The tree may end before every pipe reported its EOF; then stage 1's outcome follows at once.
  const stageOne = "one" in first ? first.one : await stageOneDone;
  let compiled = false;
  let verdictAt = 0;
  let decideError: unknown;
  let failed = false;
  try {
    if (stageOne && !("run" in first)) {
      // A run that ends first (the wall-time limit, an abort) stops the wait: no verdict then.
      const deciding = decide(stageOne);
      deciding.catch(() => undefined);
      if (await Promise.race([deciding, running.then(() => false)])) {
        compiled = true;
        verdictAt = performance.now();
        verdictPipe?.end(`${COMPILE_VERDICT}\n`);
      }
    }
  } catch (error) {
    failed = true;
    decideError = error;
  } finally {
    // No verdict (refused, cached, failed): EOF ends the script without stage 2.
    if (!compiled) verdictPipe?.end();
  }
  const run = await running;
  if (failed) throw decideError;
  const outcome: TwoStageOutcome = { run, compiled };
  if (stageOne) outcome.stageOne = stageOne;
  if (compiled) outcome.compileMs = performance.now() - verdictAt;
  return outcome;
}
