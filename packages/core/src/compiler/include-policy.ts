/**
 * The include policy for untrusted programs: clang may read the program itself and files under
 * the compiler's own include directories, nothing else. A program that could read an arbitrary
 * host file could exfiltrate it through diagnostics, debug info or the object itself (e.g. an
 * inline-asm `.incbin`), so the policy is enforced in layers:
 *
 *  1. `prescanSource`: every include must be a literal relative path without `..`; directives
 *     that only serve to name other files (`#line`, GNU line markers, `#pragma GCC dependency`)
 *     are refused.
 *  2. `findOutsideFile`: after `clang -E`, every file named in a line marker must resolve (through
 *     symlinks) into an allowed directory. This catches what a source scan cannot see, such as a
 *     symlink inside an include directory.
 *  3. `findAsmFileInclusion`: inline assembly must not use `.incbin` / `.include`, which the
 *     assembler would resolve against the host file system, nor the assembler's macro and
 *     repetition facilities (`.macro`, `.irp`, `.irpc`, `.rept`, `.altmacro`), which can build
 *     those directive names from parameters where no literal check sees them.
 *
 * None of this is what keeps host files out of reach: the compiler sandbox is (sandbox.ts).
 * The checks refuse early and with a line number what the sandbox would only let fail.
 */
import { realpath } from "node:fs/promises";
import { isAbsolute, resolve, sep } from "node:path";

export interface PolicyViolation {
  /** 1-based line in the user's program, when the violation is tied to one. */
  line?: number;
  reason: string;
}

interface LogicalLine {
  /** 1-based line where the logical line starts. */
  line: number;
  text: string;
}

/**
 * Splits C source into logical lines the way translation phases 2–3 see them: backslash-newlines
 * are spliced and comments become a space (a block comment spanning lines keeps the directive on
 * one logical line), so `#inc\<newline>lude` or `#include /* ... *\/ "x"` cannot hide a directive.
 */
export function logicalLines(source: string): LogicalLine[] {
  const lines: LogicalLine[] = [];
  let text = "";
  let start = 1;
  let line = 1;
  let i = 0;
  const n = source.length;
  const endLine = (): void => {
    lines.push({ line: start, text });
    text = "";
    start = line;
  };
  while (i < n) {
    const c = source[i];
    if (c === "\\" && (source[i + 1] === "\n" || (source[i + 1] === "\r" && source[i + 2] === "\n"))) {
      i += source[i + 1] === "\n" ? 2 : 3;
      line += 1;
      continue;
    }
    if (c === "\n") {
      i += 1;
      line += 1;
      endLine();
      continue;
    }
    if (c === "/" && source[i + 1] === "*") {
      i += 2;
      while (i < n && !(source[i] === "*" && source[i + 1] === "/")) {
        if (source[i] === "\n") line += 1;
        i += 1;
      }
      i += 2;
      text += " ";
      continue;
    }
    if (c === "/" && source[i + 1] === "/") {
      // A line comment runs to the end of the logical line (it can be continued with a backslash).
      i += 2;
      while (i < n && source[i] !== "\n") {
        if (source[i] === "\\" && source[i + 1] === "\n") {
          line += 1;
          i += 1;
        }
        i += 1;
      }
      text += " ";
      continue;
    }
    if (c === '"' || c === "'") {
      // Copy the literal so a quote or comment marker inside it is not taken for one.
      text += c;
      i += 1;
      while (i < n && source[i] !== c && source[i] !== "\n") {
        if (source[i] === "\\" && source[i + 1] === "\n") {
          line += 1;
          i += 2;
          continue;
        }
        if (source[i] === "\\" && i + 1 < n) {
          text += source[i];
          i += 1;
        }
        text += source[i];
        i += 1;
      }
      if (source[i] === c) {
        text += c;
        i += 1;
      }
      continue;
    }
    text += c;
    i += 1;
  }
  if (text !== "" || lines.length === 0) lines.push({ line: start, text });
  return lines;
}

/** Why an include path is refused, or undefined when it is a plain relative path. */
export function checkIncludePath(path: string): string | undefined {
  if (path === "") return "the path is empty";
  if (path.includes("\0")) return "the path contains a NUL character";
  if (path.startsWith("/")) return "absolute paths are not allowed";
  if (path.split("/").includes("..")) return "'..' path segments are not allowed";
  return undefined;
}

const DIRECTIVE = /^\s*(?:#|%:)\s*([A-Za-z_]\w*|\d+)?(.*)$/;
const LITERAL_ARGUMENT = /^\s*(<[^>]*>|"[^"]*")\s*$/;
// `defined(__has_include)` is the usual feature test and names no file; any other use must be a call.
const HAS_INCLUDE = /(?<!\bdefined\s*\(?\s*)\b__has_include(?:_next)?\b\s*(\(?)\s*(<[^>]*>|"[^"]*")?/g;
const HAS_EMBED = /\b__has_embed\b/;
const PRAGMA_OPERATOR = /\b_Pragma\s*\(\s*"\s*(?:GCC\s+dependency|clang\s+__debug)\b/;
const INCLUDE_HINT = 'only <...> or "..." paths relative to the compiler\'s include directories are allowed (see docs/compiler.md)';

/** Layer 1: refuses include directives that could reach outside the allowed directories. */
export function prescanSource(source: string): PolicyViolation | undefined {
  for (const { line, text } of logicalLines(source)) {
    if (HAS_EMBED.test(text)) return { line, reason: "__has_embed is not allowed: it probes for another file" };
    if (PRAGMA_OPERATOR.test(text)) return { line, reason: "_Pragma with GCC dependency or clang __debug is not allowed" };
    for (const match of text.matchAll(HAS_INCLUDE)) {
      const literal = match[2];
      if (match[1] !== "(" || literal === undefined) {
        return { line, reason: `__has_include must name a literal path; ${INCLUDE_HINT}` };
      }
      const why = checkIncludePath(literal.slice(1, -1));
      if (why) return { line, reason: `__has_include(${literal}) refused: ${why}; ${INCLUDE_HINT}` };
    }
    const directive = DIRECTIVE.exec(text);
    if (!directive) continue;
    const name = directive[1] ?? "";
    const rest = directive[2] ?? "";
    if (name === "include" || name === "include_next" || name === "import") {
      const literal = LITERAL_ARGUMENT.exec(rest)?.[1];
      if (literal === undefined) {
        return { line, reason: `#${name} must name a literal path (macro-expanded includes are refused); ${INCLUDE_HINT}` };
      }
      const why = checkIncludePath(literal.slice(1, -1));
      if (why) return { line, reason: `#${name} ${literal} refused: ${why}; ${INCLUDE_HINT}` };
    } else if (name === "line" || /^\d+$/.test(name)) {
      // Line markers rename the current file, which would let code pose as a header in diagnostics.
      return { line, reason: "#line directives and line markers are not allowed" };
    } else if (name === "pragma" && /^\s*GCC\s+dependency\b/.test(rest)) {
      return { line, reason: "#pragma GCC dependency is not allowed: it reads another file" };
    } else if (name === "pragma" && /^\s*clang\s+__debug\b/.test(rest)) {
      return { line, reason: "#pragma clang __debug is not allowed: it crashes or dumps the compiler" };
    } else if (name === "embed") {
      return { line, reason: "#embed is not allowed: it reads another file into the program" };
    }
  }
  return undefined;
}

export interface LineMarker {
  file: string;
  line: number;
  flags: number[];
}

const MARKER = /^#\s*(\d+)\s+"((?:[^"\\]|\\.)*)"((?:\s+\d+)*)\s*$/;

function unescapeMarkerName(name: string): string {
  return name.replace(/\\([0-7]{1,3}|.)/g, (_, e: string) => (/^[0-7]+$/.test(e) ? String.fromCharCode(parseInt(e, 8)) : e));
}

/** The `# <line> "<file>" <flags>` markers of `clang -E` output. */
export function parseLineMarkers(preprocessed: string): LineMarker[] {
  const markers: LineMarker[] = [];
  for (const raw of preprocessed.split("\n")) {
    if (!raw.startsWith("#")) continue;
    const m = MARKER.exec(raw);
    if (!m) continue;
    markers.push({
      line: Number(m[1]),
      file: unescapeMarkerName(m[2] ?? ""),
      flags: (m[3] ?? "").trim().split(/\s+/).filter(Boolean).map(Number),
    });
  }
  return markers;
}

/** Pseudo-files clang names in line markers; they are not on disk. */
export const PSEUDO_FILES = new Set(["<built-in>", "<command line>", "<scratch space>", "<stdin>"]);

export function isUnder(file: string, dir: string): boolean {
  return file === dir || file.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

export interface FilePolicy {
  /** The user's program as passed to clang (and its realpath, if different). */
  sourcePaths: string[];
  /** Allowed include directories, already passed through realpath. */
  allowedDirs: string[];
  /** clang's working directory, to resolve relative marker names. */
  cwd: string;
}

/** Resolves a file named by clang and tells whether the program may read it. */
export async function isFileAllowed(file: string, policy: FilePolicy): Promise<boolean> {
  if (PSEUDO_FILES.has(file)) return true;
  const absolute = isAbsolute(file) ? file : resolve(policy.cwd, file);
  if (policy.sourcePaths.includes(absolute)) return true;
  let real: string;
  try {
    real = await realpath(absolute);
  } catch {
    return false;
  }
  if (policy.sourcePaths.includes(real)) return true;
  return policy.allowedDirs.some((dir) => isUnder(real, dir));
}

export interface OutsideFile {
  file: string;
  /** Where it was included from: the includer as clang named it and the directive's line. */
  includedFrom?: { file: string; line: number };
}

/** Layer 2: the first file the preprocessor opened outside the allowed directories, if any. */
export async function findOutsideFile(markers: LineMarker[], policy: FilePolicy): Promise<OutsideFile | undefined> {
  // Include stack, to report where an outside file came from: `# N "parent" 2` follows the
  // include and means "back in parent at line N", so the directive was on line N-1.
  const stack: { file: string; entry?: OutsideFile }[] = [];
  const pending: OutsideFile[] = [];
  const verdicts = new Map<string, boolean>();
  for (const marker of markers) {
    let allowed = verdicts.get(marker.file);
    if (allowed === undefined) {
      allowed = await isFileAllowed(marker.file, policy);
      verdicts.set(marker.file, allowed);
    }
    if (marker.flags.includes(1)) {
      const entry: OutsideFile | undefined = allowed ? undefined : { file: marker.file };
      if (entry) pending.push(entry);
      stack.push({ file: marker.file, ...(entry ? { entry } : {}) });
    } else if (marker.flags.includes(2)) {
      const left = stack.pop();
      if (left?.entry) left.entry.includedFrom = { file: marker.file, line: Math.max(1, marker.line - 1) };
    } else if (!allowed) {
      pending.push({ file: marker.file });
    }
  }
  return pending[0];
}

const ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", a: "\x07", b: "\b", f: "\f", v: "\v", e: "\x1b" };

/** Decodes the escapes of a C string literal body, so `"\x2eincbin"` reads as `.incbin`. */
export function decodeCString(body: string): string {
  return body.replace(/\\(x[0-9A-Fa-f]+|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[0-7]{1,3}|.)/gs, (_, e: string) => {
    if (e[0] === "x" || e[0] === "u" || e[0] === "U") {
      const code = parseInt(e.slice(1), 16) & 0x10ffff;
      return String.fromCodePoint(code);
    }
    if (/^[0-7]+$/.test(e)) return String.fromCharCode(parseInt(e, 8) & 0xff);
    return ESCAPES[e] ?? e;
  });
}

type Token = ({ kind: "ident"; text: string } | { kind: "string"; value: string } | { kind: "punct"; text: string }) & {
  index: number;
};

const TOKEN = /\s+|([A-Za-z_]\w*)|"((?:[^"\\\n]|\\.)*)"|'(?:[^'\\\n]|\\.)*'|(\d[\w.]*)|([()])|./gsy;

/** Tokens of preprocessed C, enough to find asm statements and their string literals. */
function tokenize(preprocessed: string): Token[] {
  const tokens: Token[] = [];
  // Line markers and pragmas left in -E output are not code. Anything else starting with `#`
  // stays: a stray `#` produced by a macro is code (a syntax error) and must not hide an asm.
  // They are blanked, not removed, so token indexes stay valid in `preprocessed`.
  const code = preprocessed.replace(/^[ \t]*#[ \t]*(?:\d+[ \t]+"|pragma\b|ident\b).*$/gm, (line) => " ".repeat(line.length));
  TOKEN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TOKEN.exec(code)) !== null) {
    const index = m.index;
    if (m[1] !== undefined) tokens.push({ kind: "ident", text: m[1], index });
    else if (m[2] !== undefined) tokens.push({ kind: "string", value: decodeCString(m[2]), index });
    else if (m[4] !== undefined) tokens.push({ kind: "punct", text: m[4], index });
    else if (m[0].trim() !== "") tokens.push({ kind: "punct", text: m[0], index });
  }
  return tokens;
}

const ASM_KEYWORDS = new Set(["asm", "__asm", "__asm__"]);
const ASM_QUALIFIERS = new Set(["volatile", "__volatile", "__volatile__", "inline", "__inline", "__inline__", "goto"]);
/**
 * Directives that read a file, and those that can build a directive's name from parameters
 * (`.irp d,incbin` then `.\d "file"`); LLVM's assembler matches directive names case-blind.
 */
const FILE_DIRECTIVE = /\.\s*(incbin|include|macro|irpc?|rept?|altmacro)\b/i;

/** The file and line of an offset in -E output, from the last line marker before it. */
export function locatePreprocessed(preprocessed: string, index: number): { file: string; line: number } | undefined {
  const before = preprocessed.slice(0, index);
  const markers = /^#\s*(\d+)\s+"((?:[^"\\]|\\.)*)".*$/gm;
  let last: RegExpExecArray | undefined;
  for (const m of before.matchAll(markers)) last = m;
  if (last === undefined) return undefined;
  const afterMarker = before.slice(last.index + last[0].length);
  const newlines = afterMarker.split("\n").length - 1;
  return { file: unescapeMarkerName(last[2] ?? ""), line: Number(last[1]) + newlines - 1 };
}

/**
 * Layer 3: refuses inline assembly that would make the assembler read a file. Adjacent string
 * literals are joined first (`".inc" "bin"` is one string to the assembler) and escapes decoded.
 * `sourcePaths` name the user's program, so a violation in it carries the line.
 */
export function findAsmFileInclusion(preprocessed: string, sourcePaths: readonly string[] = []): PolicyViolation | undefined {
  if (!/\basm\b|__asm/.test(preprocessed)) return undefined;
  const tokens = tokenize(preprocessed);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t?.kind !== "ident" || !ASM_KEYWORDS.has(t.text)) continue;
    let j = i + 1;
    while (tokens[j]?.kind === "ident" && ASM_QUALIFIERS.has((tokens[j] as { text: string }).text)) j++;
    const open = tokens[j];
    if (open?.kind !== "punct" || open.text !== "(") continue;
    let depth = 0;
    let joined: string | undefined;
    for (; j < tokens.length; j++) {
      const tok = tokens[j];
      if (tok === undefined) break;
      if (tok.kind === "string") {
        joined = (joined ?? "") + tok.value;
        continue;
      }
      if (joined !== undefined && FILE_DIRECTIVE.test(joined)) {
        const name = (FILE_DIRECTIVE.exec(joined)?.[1] ?? "incbin").toLowerCase();
        const where = locatePreprocessed(preprocessed, t.index);
        const why =
          name === "incbin" || name === "include" ? "which would read a file from the host" : "whose parameter substitution can build a file-reading directive";
        return {
          ...(where && sourcePaths.includes(where.file) ? { line: where.line } : {}),
          reason: `inline assembly uses the '.${name}' directive, ${why}; it is not allowed`,
        };
      }
      joined = undefined;
      if (tok.kind === "punct" && tok.text === "(") depth++;
      if (tok.kind === "punct" && tok.text === ")" && --depth === 0) break;
    }
    i = j;
  }
  return undefined;
}
