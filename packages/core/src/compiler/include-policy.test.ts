import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkIncludePath, decodeCString, findAsmFileInclusion, findOutsideFile, logicalLines, parseLineMarkers, prescanSource } from "./include-policy.js";

describe("prescanSource", () => {
  it.each([
    ['#include <linux/bpf.h>\n#include "vmlinux.h"\n#include_next <bpf/bpf_helpers.h>\n'],
    ["#  include   <ebpf-operator/metrics.h>  // trailing comment\n"],
    ["#if __has_include(<linux/bpf.h>)\n#endif\n"],
    ["#if defined(__has_include) && defined __has_include_next\n#endif\n"],
    ['const char *s = "#include </etc/passwd>";\n'],
    ["/* #include </etc/passwd> */\nint x;\n"],
    ["#define H(x) #x\n#pragma once\n"],
  ])("accepts %j", (source) => {
    expect(prescanSource(source)).toBeUndefined();
  });

  it.each([
    ['#include "/etc/passwd"', 1, /absolute paths/],
    ["\n\n#include <../x.h>", 3, /'\.\.' path segments/],
    ['#include "a/../../b.h"', 1, /'\.\.'/],
    ["#define F <x.h>\n#include F", 2, /literal path/],
    ["#include", 1, /literal path/],
    ['#import "/etc/passwd"', 1, /absolute/],
    ["#include_next </etc/passwd>", 1, /absolute/],
    ['#inc\\\nlude "/etc/passwd"', 1, /absolute/],
    ['int a; /* multi\nline */ int b;\n#/*x*/include/*\n*/"/etc/passwd"', 3, /absolute/],
    ["%:include </etc/passwd>", 1, /absolute/],
    ['#line 7 "x.h"', 1, /#line/],
    ['# 7 "x.h"', 1, /line markers/],
    ['#pragma GCC dependency "/etc/passwd"', 1, /dependency/],
    ['#if __has_include("/etc/shadow")\n#endif', 1, /__has_include/],
    ["#define P <x.h>\n#if __has_include(P)\n#endif", 2, /literal path/],
    ['#define HI __has_include\n#if HI("/etc/shadow")\n#endif', 1, /literal path/],
    ['#include ""', 1, /empty/],
    ['int x;\n#embed "/etc/passwd"', 2, /#embed/],
    ["%:embed <data.bin> limit(4)", 1, /#embed/],
    ["#if __has_embed(<x>)\n#endif", 1, /__has_embed/],
    ["#if defined(__has_embed)\n#endif", 1, /__has_embed/],
    ["#pragma clang __debug crash", 1, /__debug/],
    ['_Pragma("clang __debug crash")', 1, /_Pragma/],
    ['int a; _Pragma ( "GCC dependency \\"/etc/passwd\\"" )', 1, /_Pragma/],
  ])("refuses %j at line %i", (source, line, reason) => {
    const violation = prescanSource(source);
    expect(violation?.line).toBe(line);
    expect(violation?.reason).toMatch(reason);
  });
});

describe("logicalLines", () => {
  it("splices continuations and keeps the starting line", () => {
    expect(logicalLines("a\\\nb\nc /* x\ny */ d\ne")).toEqual([
      { line: 1, text: "ab" },
      { line: 3, text: "c   d" },
      { line: 5, text: "e" },
    ]);
  });
});

describe("checkIncludePath", () => {
  it.each([
    ["linux/bpf.h", undefined],
    ["a..b/c.h", undefined],
    ["/abs.h", "absolute paths are not allowed"],
    ["x/../y.h", "'..' path segments are not allowed"],
    ["..", "'..' path segments are not allowed"],
  ])("%j", (path, expected) => {
    expect(checkIncludePath(path)).toBe(expected);
  });
});

describe("parseLineMarkers / findOutsideFile", () => {
  it("parses markers, unescaping names", () => {
    expect(parseLineMarkers('# 1 "a\\"b.h" 1 3\nint x;\n# 12 "<built-in>" 2\n')).toEqual([
      { line: 1, file: 'a"b.h', flags: [1, 3] },
      { line: 12, file: "<built-in>", flags: [2] },
    ]);
  });

  it("finds the first outside file and where it was included from", async () => {
    const dir = await mkdtemp(join(tmpdir(), "eop-policy-"));
    try {
      const allowed = join(dir, "allowed");
      const outside = join(dir, "outside.h");
      await writeFile(outside, "");
      await mkdir(allowed);
      await writeFile(join(allowed, "ok.h"), "");
      await symlink(outside, join(allowed, "link.h"));
      const src = join(dir, "program.c");
      const policy = { sourcePaths: [src], allowedDirs: [allowed], cwd: dir };
      const text = [
        `# 1 "${src}"`,
        '# 1 "<built-in>" 1',
        `# 1 "${src}" 2`,
        `# 1 "${allowed}/ok.h" 1 3`,
        `# 2 "${src}" 2`,
        `# 1 "${allowed}/link.h" 1 3`,
        `# 5 "${src}" 2`,
      ].join("\n");
      expect(await findOutsideFile(parseLineMarkers(text), policy)).toEqual({
        file: `${allowed}/link.h`,
        includedFrom: { file: src, line: 4 },
      });
      expect(await findOutsideFile(parseLineMarkers(text.split("\n").slice(0, 5).join("\n")), policy)).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("findAsmFileInclusion", () => {
  it.each([
    ['asm(".incbin \\"/etc/passwd\\"");', true],
    ['__asm__ __volatile__(".inc" "bin x" ::: "memory");', true],
    ['void f(void) { asm volatile ("\\x2eINCLUDE \\"x\\""); }', true],
    ['asm("\\056incbin x");', true],
    // The assembler's macro facilities build directive names where no literal check sees them.
    ['asm(".irp d,incbin\\n.\\\\d \\"/etc/passwd\\"\\n.endr");', true],
    ['asm(".IRPC c,b\\n.inc\\\\cin \\"/x\\"\\n.endr");', true],
    ['asm(".macro m d\\n.\\\\d \\"/x\\"\\n.endm\\nm incbin");', true],
    ['asm(".rept 1\\nnop\\n.endr");', true],
    ['asm(". include \\"/x\\"");', true],
    ['asm(".altmacro");', true],
    ['asm("r0 = *(u32 *)(r1 + 0)"); asm("call %[f]" :: [f] "i"(1));', false],
    ['asm goto("" "r0 = 1" :::: out);', false],
    ['const char *s = ".incbin";', false],
    ['asm("r0 = 0"); const char *t = ".inc" "bin";', false],
    ["int asm_like; int x = sizeof(asm_like);", false],
    ['# 1 "x.h" 1\n#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\nasm("nop");', false],
  ])("%j → %s", (code, refused) => {
    expect(findAsmFileInclusion(code) !== undefined).toBe(refused);
  });

  it("decodes C escapes", () => {
    expect(decodeCString('\\x2e\\151nc\\\\\\"\\n')).toBe('.inc\\"\n');
  });
});
