// Runs the real clang, bpftool and bubblewrap (no kernel privileges needed). Compiles run in the
// sandbox unless a test is about another layer (the include policy alone, the cache, the queue),
// which says so with `sandbox: "off"`: those use fake clangs (shell scripts) the sandbox could
// not run. The attacks on the sandbox itself are in sandbox.test.ts.
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CompilerOptions } from "./index.js";
import { BpfCompiler, CompileError, findDefaultIncludeDir } from "./index.js";

const QUICK_START = `#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u64);
} execve_count SEC(".maps");

SEC("kprobe/sys_execve")
int count_execve(struct pt_regs *ctx) {
  u32 key = 0;
  u64 *val, init_val = 1;

  val = bpf_map_lookup_elem(&execve_count, &key);
  if (val) {
    (*val)++;
  } else {
    bpf_map_update_elem(&execve_count, &key, &init_val, BPF_ANY);
  }
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

const CORE_PROGRAM = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <ebpf-operator/metrics.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, u32);
  __type(value, u64);
} by_parent SEC(".maps");

SEC("kprobe/do_nanosleep")
int probe(struct pt_regs *ctx) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
  EOP_COUNTER_INC(by_parent, ppid);
  EOP_COUNTER_ADD(by_parent, ppid, 2);
  EOP_GAUGE_SET(by_parent, ppid, 7);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

const LABEL = "default/syscall-monitor";
const SECRET = "TOP-SECRET-CONTENT-4711";

let cacheDir: string;
let scratch: string;

beforeEach(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), "eop-compiler-cache-"));
  scratch = await mkdtemp(join(tmpdir(), "eop-compiler-scratch-"));
  // Include directories copied here must be reachable by the sandbox's unprivileged user.
  await chmod(scratch, 0o755);
});
afterEach(async () => {
  await rm(cacheDir, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
});

/** The sandbox is required: a test must not pass because it silently fell back to running clang unconfined. */
function compiler(options: Partial<CompilerOptions> = {}): BpfCompiler {
  return new BpfCompiler({ cacheDir, sandbox: "required", ...options });
}

/** A macro bomb: each level doubles the expansion; clang's memory grows with it. */
function macroBomb(levels = 30, use = 26): string {
  const lines = ["#define A0 1+"];
  for (let i = 1; i <= levels; i++) lines.push(`#define A${i} A${i - 1} A${i - 1}`);
  return `${lines.join("\n")}\nint x = A${use} 1;\n`;
}

async function compileError(promise: Promise<unknown>): Promise<CompileError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CompileError);
  return error as CompileError;
}

async function expectBpfElf(path: string): Promise<void> {
  const bytes = await readFile(path);
  expect([...bytes.subarray(0, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]);
  expect(bytes.readUInt16LE(18)).toBe(247); // e_machine == EM_BPF
}

describe("BpfCompiler", { timeout: 120_000 }, () => {
  it("compiles the README quick start as written into a BPF ELF object, in the sandbox", async () => {
    const c = compiler();
    expect((await c.toolchainInfo()).sandbox).toMatchObject({ mode: "bwrap" });
    const result = await c.compile({ source: QUICK_START, label: LABEL });
    expect(result.cached).toBe(false);
    expect(result.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(result.objectPath).toBe(join(cacheDir, "objects", `${result.hash}.o`));
    expect(result.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    await expectBpfElf(result.objectPath);
    // Both sandboxed clang runs timed, within the compile's own time; a cache hit runs none.
    const runs = result.clangRunsMs!;
    expect(runs.preprocess).toBeGreaterThan(0);
    expect(runs.compile).toBeGreaterThan(0);
    expect(runs.preprocess + runs.compile!).toBeLessThanOrEqual(result.durationMs - result.queueWaitMs + 2);
    expect((await c.compile({ source: QUICK_START, label: LABEL })).clangRunsMs).toBeUndefined();
  });

  it.each([["bpf/README.md's example", "bpf/README.md"]])("compiles %s (metrics.h with <linux/bpf.h>)", async (_name, file) => {
    const readme = await readFile(join(await findDefaultIncludeDir(), "..", "..", file), "utf8");
    const source = /```c\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(source).toContain("EOP_COUNTER_INC");
    const result = await compiler().compile({ source: source as string, label: LABEL });
    expect(result.diagnostics).toEqual([]);
    await expectBpfElf(result.objectPath);
  });

  it("generates vmlinux.h and compiles a CO-RE program with BPF_CORE_READ and the metrics helpers", async () => {
    const c = compiler();
    const info = await c.toolchainInfo();
    expect(info.clang).toMatch(/clang version/);
    expect(info.vmlinux).toMatch(new RegExp(`^${cacheDir}/vmlinux/[0-9a-f]{16}/vmlinux\\.h$`));
    expect(await readFile(info.vmlinux as string, "utf8")).toContain("struct task_struct {");
    const result = await c.compile({ source: CORE_PROGRAM, label: LABEL });
    await expectBpfElf(result.objectPath);
    // CO-RE relocations land in .BTF.ext; the field name is in the BTF strings.
    expect((await readFile(result.objectPath)).includes("real_parent")).toBe(true);
  });

  it("lets u32 from the prelude coexist with vmlinux.h's identical typedef", async () => {
    const source = `#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\nSEC("xdp") int f(struct xdp_md *ctx) { u32 a = 1; __u32 b = a; s64 c = b; return c > 0 ? XDP_PASS : XDP_DROP; }\nchar LICENSE[] SEC("license") = "GPL";\n`;
    const result = await compiler().compile({ source, label: LABEL });
    expect(result.diagnostics).toEqual([]);
  });

  it("explains a missing vmlinux.h when the kernel BTF is unavailable, and still compiles other code", async () => {
    const c = compiler({ btfPath: join(scratch, "no-btf") });
    const error = await compileError(c.compile({ source: CORE_PROGRAM, label: LABEL }));
    expect(error.code).toBe("EOP_ERR_COMPILE_FAILED");
    expect(error.message).toContain("vmlinux.h is not available on this node");
    expect(error.message).toContain("CONFIG_DEBUG_INFO_BTF");
    await expectBpfElf((await c.compile({ source: QUICK_START, label: LABEL })).objectPath);
    expect((await c.toolchainInfo()).vmlinux).toBeUndefined();
  });

  it("reports a syntax error with its line and column, labelled with the resource", async () => {
    const source = `#include <linux/bpf.h>\n\nint f(void) {\n  int x = 1;\n    foo = x;\n  bar();\n  return x\n}\n`;
    const error = await compileError(compiler().compile({ source, label: LABEL }));
    expect(error.code).toBe("EOP_ERR_COMPILE_FAILED");
    const first = error.diagnostics.find((d) => d.severity === "error");
    expect(first).toMatchObject({ file: "<code>", line: 5, column: 5, message: "use of undeclared identifier 'foo'" });
    expect(first?.snippet).toContain("foo = x;");
    expect(error.message).toMatch(/^compile EbpfMap "default\/syscall-monitor": 5:5: error: use of undeclared identifier 'foo' \(and \d+ more errors?\)$/);
    expect(JSON.stringify(error.diagnostics)).not.toContain(cacheDir);
  });

  it("returns warnings as diagnostics of a successful compile and replays them on a cache hit", async () => {
    const source = `${QUICK_START}\nstatic int unused_fn(int a) { int b; return a; }\n#warning "from the program"\n`;
    const c = compiler();
    const first = await c.compile({ source, label: LABEL });
    expect(first.diagnostics.some((d) => d.severity === "warning" && d.message === '"from the program" [-W#warnings]')).toBe(true);
    const second = await c.compile({ source, label: LABEL });
    expect(second.cached).toBe(true);
    expect(second.diagnostics).toEqual(first.diagnostics);
  });

  it.each([
    ["an absolute quoted include", `#include "/etc/passwd"\n`, 1],
    ["an angle include climbing out with ..", `int x;\n#include <../../etc/passwd>\n`, 2],
    ["a macro-expanded include", `#define OUTSIDE "/etc/passwd"\nint x;\n#include OUTSIDE\n`, 3],
    ["a directive hidden by a line splice", `#inc\\\nlude "/etc/passwd"\n`, 1],
    ["a directive hidden by a comment", `# /* x */ include /* y\n */ "/etc/passwd"\n`, 1],
    ["a digraph directive", `%:include </etc/passwd>\n`, 1],
    ["an absolute __has_include", `#if __has_include("/etc/shadow")\n#endif\n`, 1],
    ["a #line directive", `#line 10 "/usr/include/linux/bpf.h"\n`, 1],
  ])("refuses %s, naming the line, without reading the file", async (_name, source, line) => {
    const error = await compileError(compiler().compile({ source, label: LABEL }));
    expect(error.code).toBe("EOP_ERR_COMPILE_INCLUDE_REFUSED");
    expect(error.message).toContain(`compile EbpfMap "default/syscall-monitor": line ${line}: `);
    expect(error.diagnostics[0]).toMatchObject({ severity: "error", file: "<code>", line });
    expect(error.message).not.toContain("root:");
  });

  it.each([
    ["a plain .incbin", `asm(".incbin \\"${"/etc/passwd"}\\"");\nint x;\n`, 1],
    ["an .incbin split across adjacent literals", `#include <linux/bpf.h>\nint x;\n\nasm(".inc" "bin \\"/etc/passwd\\"");\n`, 4],
    [
      "an .INCLUDE built by macros and escapes",
      `#define S(x) #x\n#define DIR S(.incl) "ude"\nvoid f(void) { asm volatile("\\x2e" "INCLUDE \\"/etc/passwd\\"" ::); }\nasm(DIR);\n`,
      3,
    ],
    ["an .incbin the assembler builds with .irp", `int x;\nasm(".irp d,incbin\\n.\\\\d \\"/etc/passwd\\"\\n.endr");\n`, 2],
    ["an .incbin the assembler builds with .macro", `asm(".macro m d\\n.\\\\d \\"/etc/passwd\\"\\n.endm\\nm incbin");\n`, 1],
  ])("refuses inline assembly reading a file: %s", async (_name, source, line) => {
    const error = await compileError(compiler().compile({ source, label: LABEL }));
    expect(error.code).toBe("EOP_ERR_COMPILE_INCLUDE_REFUSED");
    expect(error.diagnostics[0]).toMatchObject({ file: "<code>", line });
    expect(error.message).toContain(`: line ${line}: inline assembly`);
    expect(error.message).toMatch(/inline assembly uses the '\.(incbin|include|irp|macro)' directive/);
    expect(error.message).not.toContain("root:");
  });

  it("include policy alone (no sandbox): refuses a file reached through a symlink inside an include directory and withholds its content", async () => {
    const secret = join(scratch, "secret.txt");
    await writeFile(secret, `${SECRET} is not C\n`);
    const includeDir = join(scratch, "include");
    await cp(await findDefaultIncludeDir(), includeDir, { recursive: true });
    await symlink(secret, join(includeDir, "ebpf-operator", "innocent.h"));
    const c = compiler({ includeDir, sandbox: "off" });

    const error = await compileError(c.compile({ source: `int x;\n#include <ebpf-operator/innocent.h>\n`, label: LABEL }));
    expect(error.code).toBe("EOP_ERR_COMPILE_INCLUDE_REFUSED");
    expect(error.message).toContain("innocent.h");
    expect(error.message).toContain("included from <code>:2");
    expect(error.diagnostics[0]).toMatchObject({ line: 2, file: "<code>" });
    expect(JSON.stringify(error)).not.toContain(SECRET);
    expect(error.message).not.toContain(SECRET);

    // A preprocessor error inside the outside file: its diagnostic is withheld, not shown.
    await writeFile(secret, `#error ${SECRET}\n`);
    const withheld = await compileError(c.compile({ source: `#include <ebpf-operator/innocent.h>\n`, label: LABEL }));
    expect(withheld.code).toBe("EOP_ERR_COMPILE_INCLUDE_REFUSED");
    expect(withheld.diagnostics.some((d) => d.file === "<withheld>")).toBe(true);
    expect(JSON.stringify(withheld.diagnostics)).not.toContain(SECRET);
    expect(withheld.message).not.toContain(SECRET);
  });

  it("serves the second identical compile from the cache without running clang", async () => {
    const log = join(scratch, "clang-runs.log");
    const spy = join(scratch, "clang-spy");
    await writeFile(spy, `#!/bin/sh\necho "$*" >> '${log}'\nexec clang "$@"\n`);
    await chmod(spy, 0o755);
    const c = compiler({ clangPath: spy, sandbox: "off" });
    const first = await c.compile({ source: QUICK_START, label: LABEL });
    const runsAfterFirst = (await readFile(log, "utf8")).split("\n").filter(Boolean);
    expect(runsAfterFirst.some((args) => args.includes(" -c "))).toBe(true);

    const second = await c.compile({ source: QUICK_START, label: "other/label" });
    expect(second).toMatchObject({ cached: true, hash: first.hash, objectPath: first.objectPath });
    expect((await readFile(log, "utf8")).split("\n").filter(Boolean)).toEqual(runsAfterFirst);

    // A fresh compiler over the same cache also hits (it only asks clang for its version).
    const third = await compiler({ clangPath: spy, sandbox: "off" }).compile({ source: QUICK_START, label: LABEL });
    expect(third).toMatchObject({ cached: true, hash: first.hash });
    const runs = (await readFile(log, "utf8")).split("\n").filter(Boolean);
    expect(runs.filter((args) => args.includes(" -c ") || args.includes(" -E "))).toHaveLength(2);
  });

  it("gives different sources and different defines different hashes", async () => {
    const a = await compiler().compile({ source: QUICK_START, label: LABEL });
    const b = await compiler().compile({ source: QUICK_START.replace("max_entries, 1", "max_entries, 2"), label: LABEL });
    const d = await compiler({ extraDefines: { EOP_TEST: 1 } }).compile({ source: QUICK_START, label: LABEL });
    expect(new Set([a.hash, b.hash, d.hash]).size).toBe(3);
    expect(b.cached).toBe(false);
  });

  it("produces byte-identical objects regardless of the build directory; the sandbox is part of the key", async () => {
    const first = await compiler().compile({ source: QUICK_START, label: LABEL });
    const bytes = await readFile(first.objectPath);
    await rm(join(cacheDir, "objects"), { recursive: true });
    const again = await compiler().compile({ source: QUICK_START, label: LABEL });
    expect(again.cached).toBe(false);
    expect((await readFile(again.objectPath)).equals(bytes)).toBe(true);
    await rm(join(cacheDir, "objects"), { recursive: true });
    // Unconfined, BTF lacks the program's source lines (clang reads them back by the name
    // debug info gives the program, which only exists inside the sandbox): another object.
    const unsandboxed = await compiler({ sandbox: "off" }).compile({ source: QUICK_START, label: LABEL });
    expect(unsandboxed.cached).toBe(false);
    expect(unsandboxed.hash).not.toBe(first.hash);
    expect(bytes.includes("bpf_map_lookup_elem(&execve_count, &key);")).toBe(true);
  });

  it("kills clang when the wall-time limit expires", async () => {
    const fake = join(scratch, "slow-clang");
    // Answers the toolchain probes like clang, then hangs on the real work.
    await writeFile(fake, `#!/bin/sh\ncase "$1" in --version|-print-resource-dir) exec clang "$1";; esac\nsleep 30\n`);
    await chmod(fake, 0o755);
    const c = compiler({ clangPath: fake, timeoutMs: 300, sandbox: "off" });
    await c.toolchainInfo();
    const started = Date.now();
    const error = await compileError(c.compile({ source: QUICK_START, label: LABEL }));
    expect(error.code).toBe("EOP_ERR_COMPILE_TIMEOUT");
    expect(error.message).toBe(`compile EbpfMap "${LABEL}": compilation exceeded the 300 ms time limit and was killed`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it.each([
    ["in the sandbox", "required" as const],
    ["without it", "off" as const],
  ])("enforces the object size limit before caching anything, %s", async (_name, sandbox) => {
    const c = compiler({ maxObjectBytes: 512, sandbox });
    expect((await c.toolchainInfo()).resourceLimits).toBe("prlimit");
    const error = await compileError(c.compile({ source: QUICK_START, label: LABEL }));
    expect(error.code).toBe("EOP_ERR_COMPILE_OUTPUT_TOO_LARGE");
    expect(error.message).toContain("exceeds the 512-byte limit");
    expect(await readdir(join(cacheDir, "objects")).catch(() => [])).toEqual([]);
  });

  it("fails a macro bomb on the per-compile memory limit, with a clear error", async () => {
    const started = Date.now();
    const error = await compileError(compiler({ memoryLimitBytes: 128 * 1024 * 1024 }).compile({ source: macroBomb(), label: LABEL }));
    expect(error.code).toBe("EOP_ERR_COMPILE_MEMORY_LIMIT");
    expect(error.message).toBe(`compile EbpfMap "${LABEL}": clang exceeded the ${128 * 1024 * 1024}-byte memory limit`);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("does not take a program's own '#error out of memory' for the memory limit", async () => {
    const error = await compileError(compiler().compile({ source: "int x;\n#error out of memory\n", label: LABEL }));
    expect(error.code).toBe("EOP_ERR_COMPILE_FAILED");
    expect(error.message).toContain("2:2: error: out of memory");
  });

  it("fails a macro bomb on the CPU-time limit when memory would last longer", async () => {
    const c = compiler({ memoryLimitBytes: 2 * 1024 * 1024 * 1024, cpuTimeLimitSeconds: 1, timeoutMs: 60_000 });
    const error = await compileError(c.compile({ source: macroBomb(), label: LABEL }));
    expect(error.code).toBe("EOP_ERR_COMPILE_TIMEOUT");
    expect(error.message).toBe(`compile EbpfMap "${LABEL}": clang exceeded the 1 s CPU-time limit and was killed`);
  });

  it("reports a missing clang as a toolchain error", async () => {
    const error = await compileError(compiler({ clangPath: join(scratch, "no-clang") }).compile({ source: QUICK_START, label: LABEL }));
    expect(error.code).toBe("EOP_ERR_COMPILE_TOOLCHAIN_MISSING");
  });

  it("runs at most `concurrency` compiles at once and all of them succeed", async () => {
    const log = join(scratch, "clang-runs.log");
    const spy = join(scratch, "clang-spy");
    // Logs start and end of every compile-stage run (not the -E run, which shares the slot).
    await writeFile(
      spy,
      `#!/bin/sh
case " $* " in *" -c "*) echo start >> '${log}'; clang "$@"; rc=$?; echo end >> '${log}'; exit $rc;; esac
exec clang "$@"
`,
    );
    await chmod(spy, 0o755);
    const c = compiler({ concurrency: 1, clangPath: spy, sandbox: "off" });
    const sources = [1, 2, 3].map((n) => QUICK_START.replace("max_entries, 1", `max_entries, ${n + 10}`));
    const results = await Promise.all(sources.map((source) => c.compile({ source, label: LABEL })));
    expect(new Set(results.map((r) => r.hash)).size).toBe(3);
    for (const r of results) await expectBpfElf(r.objectPath);
    expect((await readFile(log, "utf8")).trim().split("\n")).toEqual(["start", "end", "start", "end", "start", "end"]);
  });

  it("keys objects by the content of every header read, system headers included, and not by headers it did not read", async () => {
    // A private copy of the system headers a program with <linux/bpf.h> reads, to edit them.
    const sys = join(scratch, "sys");
    for (const dir of ["linux", "asm-generic", "x86_64-linux-gnu/asm", "bpf"]) await cp(join("/usr/include", dir), join(sys, dir), { recursive: true });
    const options = { systemIncludeDirs: [join(sys, "x86_64-linux-gnu"), sys] };
    const first = await compiler(options).compile({ source: QUICK_START, label: LABEL });
    expect(first.cached).toBe(false);
    expect((await compiler(options).compile({ source: QUICK_START, label: LABEL })).cached).toBe(true);

    // A header the program never includes: same key (the manifest's headers are unchanged).
    await writeFile(join(sys, "linux", "netfilter.h"), "/* changed */\n", { flag: "a" });
    const unrelated = await compiler(options).compile({ source: QUICK_START, label: LABEL });
    expect(unrelated).toMatchObject({ cached: true, hash: first.hash });

    // A comment appended to a system header the program reads: new key, clang runs again.
    await writeFile(join(sys, "linux", "bpf.h"), "/* changed */\n", { flag: "a" });
    const edited = await compiler(options).compile({ source: QUICK_START, label: LABEL });
    expect(edited.cached).toBe(false);
    expect(edited.hash).not.toBe(first.hash);

    // A new header earlier on the include path that shadows one the program reads: a miss too.
    const includeDir = join(scratch, "include");
    await cp(await findDefaultIncludeDir(), includeDir, { recursive: true });
    const withInclude = { ...options, includeDir };
    const before = await compiler(withInclude).compile({ source: QUICK_START, label: LABEL });
    await mkdir(join(includeDir, "linux"));
    await writeFile(join(includeDir, "linux", "ptrace.h"), "#include_next <linux/ptrace.h>\n");
    const shadowed = await compiler(withInclude).compile({ source: QUICK_START, label: LABEL });
    expect(shadowed.cached).toBe(false);
    expect(shadowed.hash).not.toBe(before.hash);
  });

  it("keeps the cache within its size bound, evicting the least recently used object", async () => {
    const sources = [1, 2, 3, 4].map((n) => QUICK_START.replace("max_entries, 1", `max_entries, ${n + 100}`));
    const c0 = compiler();
    await c0.compile({ source: sources[0]!, label: LABEL });
    // One compile's share: its object, warnings sidecar and manifest. Room for about two and a half.
    let unit = 0;
    for (const dir of ["objects", "manifests"]) for (const f of await readdir(join(cacheDir, dir))) unit += (await stat(join(cacheDir, dir, f))).size;
    const bound = Math.floor(unit * 2.6);
    const c = compiler({ cacheMaxBytes: bound });
    const [a, b] = [await c.compile({ source: sources[0]!, label: LABEL }), await c.compile({ source: sources[1]!, label: LABEL })];
    // Objects used within the last minute are never evicted: age them, a before b ...
    const age = async (path: string, secondsAgo: number) => {
      const t = new Date(Date.now() - secondsAgo * 1000);
      await utimes(path, t, t);
    };
    await age(a.objectPath, 300);
    await age(b.objectPath, 200);
    // ... then use a again: b is now the least recently used.
    const hitA = await c.compile({ source: sources[0]!, label: LABEL });
    expect(hitA.cached).toBe(true);
    await age(a.objectPath, 100);
    const d = await c.compile({ source: sources[3]!, label: LABEL });
    expect(d.cached).toBe(false);
    const left = await readdir(join(cacheDir, "objects"));
    expect(left).toContain(`${a.hash}.o`);
    expect(left).toContain(`${d.hash}.o`);
    expect(left).not.toContain(`${b.hash}.o`);
    let total = 0;
    for (const dir of ["objects", "manifests"]) for (const f of await readdir(join(cacheDir, dir))) total += (await stat(join(cacheDir, dir, f))).size;
    expect(total).toBeLessThanOrEqual(bound);
    // The evicted one compiles again (a miss), to the same key.
    const again = await c.compile({ source: sources[1]!, label: LABEL });
    expect(again).toMatchObject({ cached: false, hash: b.hash });
  });

  it("creates its cache below cacheDir only: objects, manifests and vmlinux", async () => {
    await compiler().compile({ source: QUICK_START, label: LABEL });
    expect((await readdir(cacheDir)).sort()).toEqual(["manifests", "objects", "vmlinux"]);
  });

  it("binds an include directory the sandbox's user cannot reach (a checkout in a private home) from a world-readable copy", async () => {
    const home = await mkdtemp(join(tmpdir(), "eop-private-home-"));
    try {
      expect((await stat(home)).mode & 0o777).toBe(0o700);
      const includeDir = join(home, "include");
      await cp(await findDefaultIncludeDir(), includeDir, { recursive: true });
      const result = await compiler({ includeDir }).compile({ source: QUICK_START, label: LABEL });
      await expectBpfElf(result.objectPath);
      // The object names headers by their real path, not by the copy's.
      expect((await readFile(result.objectPath)).includes(includeDir)).toBe(true);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
