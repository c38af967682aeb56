import { describe, expect, it } from "vitest";
import type { FileVisibility } from "./diagnostics.js";
import { parseClangDiagnostics, sanitizeDiagnostics, summarizeErrors } from "./diagnostics.js";

const SRC = "/cache/tmp/build-x/src/program.bpf.c";

const STDERR = `In file included from ${SRC}:2:
/usr/include/bpf/bpf_helpers.h:10:3: warning: something odd [-Wodd]
  odd();
  ^
${SRC}:12:5: error: use of undeclared identifier 'foo'
    foo = 1;
    ^
${SRC}:3:9: note: expanded from macro 'X'
#define X foo
        ^
/etc/shadow:1:1: error: unknown type name 'root'
root:$6$secret
^
/etc/shadow:2:1: fatal error: too many errors emitted
clang: error: unable to execute command: Killed
3 errors generated.
`;

const classify = async (file: string): Promise<FileVisibility> => {
  if (file === SRC) return { kind: "code" };
  if (file.startsWith("/usr/include/")) return { kind: "visible", name: file };
  return { kind: "withheld" };
};

describe("parseClangDiagnostics", () => {
  it("parses located and unlocated diagnostics with their snippets", () => {
    const parsed = parseClangDiagnostics(STDERR);
    expect(parsed.map((d) => [d.severity, d.file, d.line, d.column])).toEqual([
      ["warning", "/usr/include/bpf/bpf_helpers.h", 10, 3],
      ["error", SRC, 12, 5],
      ["note", SRC, 3, 9],
      ["error", "/etc/shadow", 1, 1],
      ["error", "/etc/shadow", 2, 1],
      ["error", "<clang>", 0, 0],
    ]);
    expect(parsed[1]?.snippet).toBe("    foo = 1;\n    ^");
    expect(parsed[0]?.message).toBe("something odd [-Wodd]");
    expect(parsed[5]?.message).toBe("unable to execute command: Killed");
  });
});

describe("sanitizeDiagnostics", () => {
  it("labels the program <code> and withholds outside files, merging adjacent ones", async () => {
    const out = await sanitizeDiagnostics(parseClangDiagnostics(STDERR), classify);
    expect(out.map((d) => d.file)).toEqual(["/usr/include/bpf/bpf_helpers.h", "<code>", "<code>", "<withheld>", "<clang>"]);
    expect(out[3]).toEqual({
      severity: "error",
      line: 0,
      column: 0,
      file: "<withheld>",
      message: "2 diagnostics from files outside the allowed include directories withheld",
    });
    expect(JSON.stringify(out)).not.toMatch(/root|secret/);
  });
});

describe("summarizeErrors", () => {
  it.each([
    [[{ severity: "error", file: "<code>", line: 12, column: 5, message: "boom" }], "12:5: error: boom"],
    [
      [
        { severity: "warning", file: "<code>", line: 1, column: 1, message: "w" },
        { severity: "error", file: "/usr/include/x.h", line: 2, column: 3, message: "a" },
        { severity: "error", file: "<code>", line: 4, column: 1, message: "b" },
        { severity: "error", file: "<code>", line: 5, column: 1, message: "c" },
      ],
      "/usr/include/x.h:2:3: error: a (and 2 more errors)",
    ],
    [[{ severity: "error", file: "<clang>", line: 0, column: 0, message: "bad flag" }], "error: bad flag"],
    [[], "clang failed without printing an error"],
  ] as const)("summarizes %#", (diagnostics, expected) => {
    expect(summarizeErrors([...diagnostics])).toBe(expected);
  });
});
