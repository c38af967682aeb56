/**
 * Turns clang's textual diagnostics into structured ones, and keeps diagnostics that point into
 * files outside the allowed include directories from reaching the user: their message and
 * snippet could quote the content of a host file.
 */

export type Severity = "error" | "warning" | "note";

export interface Diagnostic {
  severity: Severity;
  /** 1-based; 0 when clang gave no location. */
  line: number;
  /** 1-based; 0 when clang gave no location. */
  column: number;
  message: string;
  /** `"<code>"` for the user's program, otherwise the header's path or a `<...>` pseudo-file. */
  file: string;
  /** The source line and caret clang printed under the diagnostic, if any. */
  snippet?: string;
}

/** A diagnostic as clang printed it, before its file has been classified. */
export interface RawDiagnostic extends Diagnostic {
  /** True when clang printed no `file:line:col` (driver errors such as a bad argument). */
  located: boolean;
}

const LOCATED = /^(.+?):(\d+):(\d+): (fatal error|error|warning|note|remark): (.*)$/;
const UNLOCATED = /^(?:\S*clang\S*: )?(fatal error|error|warning|note): (.*)$/;
// Lines that end a snippet and are not diagnostics themselves.
const CONTEXT =
  /^(In file included from |\s+from \S.*:\d+[:,]$|\d+ (errors?|warnings?)( and \d+ (errors?|warnings?))? generated\.$|Stack dump:|PLEASE submit|clang: note: diagnostic msg:|In module )/;
const MAX_SNIPPET_LINES = 6;

function severityOf(word: string): Severity {
  if (word === "fatal error" || word === "error") return "error";
  if (word === "warning") return "warning";
  return "note";
}

export function parseClangDiagnostics(stderr: string): RawDiagnostic[] {
  const result: RawDiagnostic[] = [];
  let current: RawDiagnostic | undefined;
  let snippet: string[] = [];
  const flush = (): void => {
    if (current && snippet.length > 0) current.snippet = snippet.join("\n");
    current = undefined;
    snippet = [];
  };
  for (const line of stderr.split(/\r?\n/)) {
    const located = LOCATED.exec(line);
    if (located) {
      flush();
      current = {
        severity: severityOf(located[4] ?? ""),
        file: located[1] ?? "",
        line: Number(located[2]),
        column: Number(located[3]),
        message: located[5] ?? "",
        located: true,
      };
      result.push(current);
      continue;
    }
    const unlocated = UNLOCATED.exec(line);
    if (unlocated) {
      flush();
      current = {
        severity: severityOf(unlocated[1] ?? ""),
        file: "<clang>",
        line: 0,
        column: 0,
        message: unlocated[2] ?? "",
        located: false,
      };
      result.push(current);
      continue;
    }
    if (CONTEXT.test(line)) {
      flush();
      continue;
    }
    if (current && line.trim() !== "" && snippet.length < MAX_SNIPPET_LINES) snippet.push(line);
  }
  flush();
  return result;
}

/** How a diagnostic's file is shown: the user's program, a readable file, or hidden. */
export type FileVisibility = { kind: "code" } | { kind: "visible"; name: string } | { kind: "withheld" };

export const WITHHELD_MESSAGE = "diagnostic from a file outside the allowed include directories withheld";

/**
 * Relabels the user's file as `<code>` and replaces diagnostics located in outside files by a
 * placeholder (adjacent ones are merged so a binary file's hundreds of errors stay one line).
 */
export async function sanitizeDiagnostics(raw: RawDiagnostic[], classify: (file: string) => Promise<FileVisibility>): Promise<Diagnostic[]> {
  const out: Diagnostic[] = [];
  let withheldRun = 0;
  let withheldEntry: Diagnostic | undefined;
  for (const d of raw) {
    const visibility: FileVisibility = d.located ? await classify(d.file) : { kind: "visible", name: d.file };
    if (visibility.kind === "withheld") {
      withheldRun += 1;
      if (withheldEntry === undefined) {
        withheldEntry = { severity: d.severity, line: 0, column: 0, file: "<withheld>", message: WITHHELD_MESSAGE };
        out.push(withheldEntry);
      } else {
        if (d.severity === "error") withheldEntry.severity = "error";
        withheldEntry.message = `${withheldRun} diagnostics from files outside the allowed include directories withheld`;
      }
      continue;
    }
    withheldRun = 0;
    withheldEntry = undefined;
    const entry: Diagnostic = {
      severity: d.severity,
      line: d.line,
      column: d.column,
      message: d.message,
      file: visibility.kind === "code" ? "<code>" : visibility.name,
    };
    if (d.snippet !== undefined) entry.snippet = d.snippet;
    out.push(entry);
  }
  return out;
}

export function formatLocation(d: Diagnostic): string {
  if (d.line === 0) return d.file === "<clang>" ? "" : `${d.file}: `;
  const position = `${d.line}:${d.column}`;
  return d.file === "<code>" ? `${position}: ` : `${d.file}:${position}: `;
}

/** `12:5: error: use of undeclared identifier 'foo' (and 2 more errors)` */
export function summarizeErrors(diagnostics: Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === "error");
  const first = errors[0];
  if (!first) return "clang failed without printing an error";
  const more = errors.length - 1;
  const suffix = more > 0 ? ` (and ${more} more error${more === 1 ? "" : "s"})` : "";
  return `${formatLocation(first)}error: ${first.message}${suffix}`;
}
