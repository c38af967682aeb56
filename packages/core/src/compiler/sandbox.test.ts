// The compiler sandbox against a hostile tenant, with the real clang, bubblewrap and seccomp.
// Every attack runs with the include policy switched OFF (sourceScan: false), so what keeps the
// planted secret out of the object, the diagnostics and the logs is the sandbox alone. The
// control at the end shows the same programs do leak without it: the checks can fail.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { realpathSync } from "node:fs";
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Logger } from "../logger.js";
import { CompileMetrics } from "./compile-metrics.js";
import { BpfCompiler, CompileError, findDefaultIncludeDir } from "./index.js";
import { buildSeccompFilter } from "@ebpf-operator/libbpf";
import { BwrapSandbox, SANDBOX_WORK_DIR, compilerSeccompProgram } from "./sandbox.js";
import type { SandboxStatus } from "./sandbox.js";
import { SECCOMP_DEFAULT_ERRNO, compilerSeccompRules } from "./seccomp-policy.js";
import type { StageOne } from "./two-stage.js";
import { stageFds, twoStageScript } from "./two-stage.js";
import { Registry } from "prom-client";

const SECRET = `EOP-SANDBOX-SECRET-${process.pid}-${randomBytes(6).toString("hex")}`;
const LABEL = "tenant-a/leaky";
const TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token";

let scratch: string;
let secret: string;
let includeDir: string;
let cacheDir: string;
const logged: string[] = [];

/** Records every log call, to grep the logs for the secret too. */
const logger = {
  debug: (obj: unknown, msg?: string) => void logged.push(JSON.stringify([obj, msg])),
  warn: (obj: unknown, msg?: string) => void logged.push(JSON.stringify([obj, msg])),
} as unknown as Pick<Logger, "debug" | "warn">;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), `eop-sandbox-${process.pid}-`));
  // World-readable on purpose: were the file inside the sandbox, clang could read it.
  await chmod(scratch, 0o755);
  secret = join(scratch, "secret.txt");
  await writeFile(secret, `${SECRET}\n${SECRET} second line\n`);
  await chmod(secret, 0o644);
  includeDir = join(scratch, "include");
  await cp(await findDefaultIncludeDir(), includeDir, { recursive: true });
  // A symlink inside an allowed include directory, pointing at the secret.
  await symlink(secret, join(includeDir, "ebpf-operator", "innocent.h"));
  await symlink(secret, join(includeDir, "secret-link.h"));
  cacheDir = join(scratch, "cache");
  // In this process's environment, for the /proc/<pid>/environ routes.
  process.env.EOP_TEST_SANDBOX_SECRET = SECRET;
});

afterAll(async () => {
  delete process.env.EOP_TEST_SANDBOX_SECRET;
  await rm(scratch, { recursive: true, force: true });
});

function hostile(options: { sandbox?: "required" | "off"; extra?: Partial<ConstructorParameters<typeof BpfCompiler>[0]> } = {}): BpfCompiler {
  return new BpfCompiler({ cacheDir, includeDir, sandbox: options.sandbox ?? "required", sourceScan: false, logger, ...options.extra });
}

/** Compiles and returns everything the tenant could see: the object's bytes, or the error's text and diagnostics. */
async function attempt(compiler: BpfCompiler, source: string): Promise<{ ok: boolean; visible: string; object?: Buffer; error?: CompileError }> {
  try {
    const result = await compiler.compile({ source, label: LABEL });
    const object = await readFile(result.objectPath);
    return { ok: true, object, visible: object.toString("latin1") + JSON.stringify(result.diagnostics) };
  } catch (error) {
    if (!(error instanceof CompileError)) throw error;
    return { ok: false, error, visible: `${error.message}\n${JSON.stringify(error.diagnostics)}\n${String(error.cause ?? "")}` };
  }
}

const asm = (text: string): string => `asm(${JSON.stringify(`.pushsection .data.leak,"aw"\n${text}\n.popsection\n`)});\nint x;\n`;

describe("compiler sandbox, include policy off", { timeout: 180_000 }, () => {
  const routes: [string, () => string][] = [
    ["#include of the absolute path", () => `#include "${secret}"\nint x;\n`],
    ["#include <> of the absolute path", () => `#include <${secret}>\nint x;\n`],
    ["#include climbing out with ..", () => `#include "${"../".repeat(12)}${secret.slice(1)}"\nint x;\n`],
    ["#include_next of the absolute path", () => `#include_next <${secret}>\nint x;\n`],
    ["#include of a symlink inside an allowed include directory", () => `#include <ebpf-operator/innocent.h>\nint x;\n`],
    ["#line naming the file (BTF copies source lines into the object)", () => `#line 1 "${secret}"\nint f(void) { return 0; }\nint g(void) { return 1; }\n`],
    ["#line naming the file, then an error (diagnostic snippet)", () => `#line 1 "${secret}"\nint x = ;\n`],
    ["a GNU line marker naming the file", () => `# 1 "${secret}"\nint f(void) { return 0; }\n`],
    ["#pragma GCC dependency", () => `#pragma GCC dependency "${secret}"\nint x;\n`],
    ["#embed (clang 19+; an error on older clang)", () => `const char d[] = {\n#embed "${secret}"\n};\n`],
    ["asm .incbin", () => asm(`.incbin "${secret}"`)],
    ["asm .incbin built by .irp", () => asm(`.irp d,incbin\n.\\d "${secret}"\n.endr`)],
    ["asm .incbin built by .irpc", () => asm(`.irpc c,b\n.inc\\cin "${secret}"\n.endr`)],
    ["asm .incbin built by .macro", () => asm(`.macro m d\n.\\d "${secret}"\n.endm\nm incbin`)],
    ["asm .include (its lines come back in the assembler's errors)", () => asm(`.include "${secret}"`)],
    ["asm .incbin of a symlink inside an allowed include directory", () => asm(`.incbin "${includeDir}/secret-link.h"`)],
    ["asm .incbin of /proc/self/environ", () => asm(`.incbin "/proc/self/environ"`)],
    ["asm .incbin of this process's environ", () => asm(`.incbin "/proc/${process.pid}/environ"`)],
    ["asm .incbin through /proc/self/root", () => asm(`.incbin "/proc/self/root${secret}"`)],
    ["asm .incbin through /proc/1/root", () => asm(`.incbin "/proc/1/root${secret}"`)],
    ["asm .incbin through this process's root", () => asm(`.incbin "/proc/${process.pid}/root${secret}"`)],
    ["asm .incbin through this process's cwd", () => asm(`.incbin "/proc/${process.pid}/cwd${secret}"`)],
    ["asm .incbin of a symlink planted in the cache's objects/", () => asm(`.incbin "${cacheDir}/objects/secret-link.h"`)],
    ["#include of a symlink planted in the cache's vmlinux/", () => `#include "${cacheDir}/vmlinux/secret-link.h"\nint x;\n`],
    ["#include of the service-account token path", () => `#include "${TOKEN_PATH}"\nint x;\n`],
    ["asm .incbin of the service-account token path", () => asm(`.incbin "${TOKEN_PATH}"`)],
  ];

  let shared: BpfCompiler;
  beforeAll(async () => {
    shared = hostile();
    // Symlinks to the secret in every host directory the compiler itself uses.
    await shared.toolchainInfo();
    for (const dir of ["objects", "vmlinux", "tmp", "manifests"]) {
      await mkdir(join(cacheDir, dir), { recursive: true });
      await symlink(secret, join(cacheDir, dir, "secret-link.h"));
    }
  });

  it.each(routes)("%s: fails or yields an object without the secret", async (_name, program) => {
    const result = await attempt(shared, program());
    expect(result.visible).not.toContain(SECRET);
    expect(logged.join("\n")).not.toContain(SECRET);
    if (result.ok) expect(result.object!.includes(SECRET)).toBe(false);
  });

  it("does not follow a symlink to the secret in an include directory it must copy (unreachable by the sandbox's user)", async () => {
    const home = await mkdtemp(join(tmpdir(), "eop-private-home-"));
    try {
      const privateInclude = join(home, "include");
      await cp(includeDir, privateInclude, { recursive: true, verbatimSymlinks: true });
      const c = hostile({ extra: { includeDir: privateInclude, cacheDir: join(scratch, "cache-private") } });
      for (const program of [`#include <ebpf-operator/innocent.h>\nint x;\n`, asm(`.incbin "${privateInclude}/secret-link.h"`)]) {
        const result = await attempt(c, program);
        expect(result.ok).toBe(false);
        expect(result.visible).not.toContain(SECRET);
      }
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it("keeps a file's existence secret too (__has_include)", async () => {
    const probe = `#if __has_include("${secret}") || __has_include("${TOKEN_PATH}")\nint found_secret_file;\n#else\nint no_secret_file;\n#endif\n`;
    const result = await attempt(shared, probe);
    expect(result.ok).toBe(true);
    expect(result.object!.includes("no_secret_file")).toBe(true);
    expect(result.object!.includes("found_secret_file")).toBe(false);
  });

  it("a crash (#pragma clang __debug crash) fails the compile and leaves no reproducer on the host", async () => {
    const before = new Set(await readdir(tmpdir()));
    const result = await attempt(shared, `#pragma clang __debug crash\nint x;\n`);
    expect(result.ok).toBe(false);
    const created = (await readdir(tmpdir())).filter((name) => !before.has(name) && /^program.*\.(c|sh|i)$/.test(name));
    expect(created).toEqual([]);
  });

  it("control: without the sandbox the same programs do leak (these tests can fail)", async () => {
    const unconfined = hostile({ sandbox: "off", extra: { cacheDir: join(scratch, "cache-unconfined") } });
    for (const program of [asm(`.irp d,incbin\n.\\d "${secret}"\n.endr`), `#line 1 "${secret}"\nint f(void) { return 0; }\n`]) {
      const result = await attempt(unconfined, program);
      expect(result.ok).toBe(true);
      expect(result.object!.includes(SECRET)).toBe(true);
    }
  });
});

describe("compiler sandbox limits", { timeout: 180_000 }, () => {
  const bomb = (marker: string): string => {
    const lines = [`#define MARK_${marker} 1`, "#define A0 1+"];
    for (let i = 1; i <= 30; i++) lines.push(`#define A${i} A${i - 1} A${i - 1}`);
    return `${lines.join("\n")}\nint x = A28 1;\n`;
  };

  it("kills the whole process group on the wall-time limit: nothing of the compile is left", async () => {
    const marker = `EOP_KILL_${process.pid}_${randomBytes(4).toString("hex")}`;
    const c = new BpfCompiler({
      cacheDir: join(scratch, "cache-kill"),
      sandbox: "required",
      timeoutMs: 2_000,
      cpuTimeLimitSeconds: 120,
      memoryLimitBytes: 4 * 1024 ** 3,
      extraDefines: { [marker]: 1 },
    });
    await c.toolchainInfo();
    const started = Date.now();
    const result = await attempt(c, bomb("kill"));
    expect(result.error?.code).toBe("EOP_ERR_COMPILE_TIMEOUT");
    expect(result.error?.message).toContain("exceeded the 2000 ms time limit");
    expect(Date.now() - started).toBeLessThan(10_000);
    await new Promise((r) => setTimeout(r, 500));
    let left = "";
    try {
      left = execFileSync("pgrep", ["-af", marker], { encoding: "utf8" });
    } catch {
      // pgrep exits 1 when nothing matches
    }
    expect(left).toBe("");
  });

  it("a macro bomb fails within its limits while another tenant's compile completes", async () => {
    const registry = new Registry();
    const metrics = new CompileMetrics(registry);
    const c = new BpfCompiler({
      cacheDir: join(scratch, "cache-fair"),
      sandbox: "required",
      concurrency: 2,
      perTenantConcurrency: 1,
      memoryLimitBytes: 256 * 1024 * 1024,
      timeoutMs: 60_000,
      metrics,
    });
    await c.toolchainInfo();
    const finished: string[] = [];
    // Two bombs from tenant a: alone, a uses both slots (the second one borrowed) ...
    const bombs = [1, 2].map((n) =>
      c.compile({ source: bomb(`a${n}`), label: `tenant-a/bomb-${n}`, tenant: "tenant-a" }).then(
        () => finished.push(`bomb-${n} compiled`),
        (error: CompileError) => finished.push(`bomb-${n} ${error.code}`),
      ),
    );
    // ... and tenant b's program takes the borrowed slot back at once (that bomb is killed and
    // runs again later), without waiting for either bomb to hit its limits.
    const good = await c.compile({ source: `int counter;\nint f(void) { return counter; }\n`, label: "tenant-b/good", tenant: "tenant-b" });
    finished.push("good");
    expect(good.queueWaitMs).toBeLessThan(1_000);
    await Promise.all(bombs);
    expect(finished[0]).toBe("good");
    expect(finished.slice(1).sort()).toEqual(["bomb-1 EOP_ERR_COMPILE_MEMORY_LIMIT", "bomb-2 EOP_ERR_COMPILE_MEMORY_LIMIT"]);
    const text = await registry.metrics();
    expect(text).toMatch(/^ebpf_operator_compile_failures_total\{reason="memory_limit"\} 2$/m);
    expect(text).toMatch(/^ebpf_operator_compile_requests_total\{result="compiled"\} 1$/m);
    expect(text).toMatch(/^ebpf_operator_compile_queue_wait_seconds_count 3$/m);
    expect(text).toMatch(/^ebpf_operator_compile_sandbox\{mode="bwrap"\} 1$/m);
  });
});

/**
 * perl stands in for clang where a test needs a tool that reports what it can reach. Its scripts
 * run from the sandbox's program file: `perl -e` reads its program from /dev/null, and the
 * sandbox has no /dev.
 */
const PERL_PROBE = { args: ["-v"], stdout: /This is perl/ };

describe("the sandbox's seccomp filter and file system, seen from inside", { timeout: 60_000 }, () => {
  // perl's syscall() makes raw system calls: x86_64 numbers (the CI and development machines).
  const NR = {
    mmap: 9,
    ptrace: 101,
    mount: 165,
    keyctl: 250,
    unshare: 272,
    perf_event_open: 298,
    setns: 308,
    memfd_create: 319,
    bpf: 321,
    userfaultfd: 323,
    io_uring_setup: 425,
  };

  it("refuses sockets, namespaces, ptrace, mount, bpf and shared anonymous memory; shows only the toolchain", async () => {
    expect(process.arch).toBe("x64");
    const sandbox = await BwrapSandbox.create({
      bwrapPath: "/usr/bin/bwrap",
      tool: "/usr/bin/perl",
      includeDirs: [includeDir],
      tmpBytes: 1024 * 1024,
      seccompProgram: compilerSeccompProgram(),
      probe: PERL_PROBE,
    });
    const script = `
      $| = 1;
      sub try { my ($name, $nr, @args) = @_; my $r = syscall($nr, @args); print "$name=", ($r == -1 ? "$!" : "ok"), "\\n"; }
      print "socket_inet=", (socket(my $s, 2, 1, 0) ? "ok" : "$!"), "\\n";
      print "socket_unix=", (socket(my $u, 1, 1, 0) ? "ok" : "$!"), "\\n";
      try("unshare", ${NR.unshare}, 0x10000000);
      try("setns", ${NR.setns}, 0, 0);
      try("ptrace", ${NR.ptrace}, 0, 0, 0, 0);
      try("mount", ${NR.mount}, 0, 0, 0, 0, 0);
      try("bpf", ${NR.bpf}, 5, 0, 0);
      try("perf_event_open", ${NR.perf_event_open}, 0, 0, -1, -1, 0);
      try("keyctl", ${NR.keyctl}, 0, 0);
      try("memfd_create", ${NR.memfd_create}, 0, 0);
      try("userfaultfd", ${NR.userfaultfd}, 0);
      try("io_uring_setup", ${NR.io_uring_setup}, 1, 0);
      try("mmap_shared_anon", ${NR.mmap}, 0, 4096, 3, 0x21, -1, 0);
      try("mmap_private_anon", ${NR.mmap}, 0, 4096, 3, 0x22, -1, 0);
      print "uid=$< euid=$> gid=", (split / /, $()[0], "\\n";
      opendir(my $d, "/"); print "root=", join(",", sort grep { !/^\\.\\.?$/ } readdir($d)), "\\n";
      print "proc=", (-e "/proc/self" ? "present" : "absent"), "\\n";
      print "write_root=", (open(my $f, ">", "/x") ? "ok" : "$!"), "\\n";
      print "write_include=", (open(my $g, ">", "${includeDir}/x") ? "ok" : "$!"), "\\n";
      open(my $t, ">", "/tmp/fill"); my $n = 0; $n += syswrite($t, "x" x 65536) // last for 1..64; print "tmp_bytes=$n\\n";
      print "env=", join(",", sort keys %ENV), "\\n";
    `;
    const result = await sandbox.run({
      tool: "/usr/bin/perl",
      args: [`${SANDBOX_WORK_DIR}/src/probe.pl`],
      source: { name: "probe.pl", text: script },
      timeoutMs: 30_000,
      maxCaptureBytes: 65536,
      maxStdoutBytes: 65536,
    });
    const seen = Object.fromEntries(
      result.stdout
        .trim()
        .split("\n")
        .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
    );
    const EPERM = "Operation not permitted";
    expect(seen).toMatchObject({
      socket_inet: EPERM,
      socket_unix: EPERM,
      unshare: EPERM,
      setns: EPERM,
      ptrace: EPERM,
      mount: EPERM,
      bpf: EPERM,
      perf_event_open: EPERM,
      keyctl: EPERM,
      memfd_create: EPERM,
      userfaultfd: EPERM,
      io_uring_setup: EPERM,
      mmap_shared_anon: EPERM,
      mmap_private_anon: "ok",
      uid: "65534 euid=65534 gid=65534",
      proc: "absent",
      write_root: "Read-only file system",
      write_include: "Read-only file system",
      tmp_bytes: String(1024 * 1024),
      // bwrap sets PWD for --chdir; nothing of this process's environment gets in.
      env: "LC_ALL,PATH,PWD,TMPDIR",
    });
    // The root holds the toolchain's directories, /tmp, the work directory and the include
    // directory's top (here under /tmp): no /dev, /etc, /home, /root, /var, /proc, /sys.
    expect(seen.root!.split(",")).toEqual(expect.arrayContaining(["ebpf-operator", "tmp", "usr"]));
    for (const absent of ["dev", "etc", "home", "root", "var", "proc", "sys", "run"]) expect(seen.root!.split(",")).not.toContain(absent);
  });
});

describe("seccomp-only mode: bubblewrap where /proc/sys is read-only (runc), without --disable-userns", { timeout: 60_000 }, () => {
  // runc mounts /proc/sys read-only, so bwrap cannot write the new user namespace's
  // max_user_namespaces (its --disable-userns): the compile server's container falls back to
  // bwrap without it. Reproduced here: bwrap runs in a private mount namespace whose /proc/sys
  // is a read-only bind. bwrap is started as the sandbox's unprivileged user, so the wrapper
  // takes a user namespace to make that mount, then maps the same user back in (as a rootless
  // runtime would) before it runs bwrap.
  const CLONE_NEWUSER = 0x10000000;
  const CLONE_NEWNS = 0x00020000;
  const CLONE_NEWNET = 0x40000000;
  const SIGCHLD = 17;
  const NR = { clone: 56, exit_group: 231, unshare: 272, setns: 308 };
  let wrapper: string;

  beforeAll(async () => {
    expect(process.arch).toBe("x64");
    wrapper = join(scratch, "bwrap-readonly-proc-sys");
    await writeFile(
      wrapper,
      [
        "#!/bin/sh",
        `exec unshare --user --map-root-user --mount --propagation private sh -c 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec unshare --user --map-user=65534 --map-group=65534 /usr/bin/bwrap "$@"' bwrap "$@"`,
        "",
      ].join("\n"),
    );
    await chmod(wrapper, 0o755);
  });

  /** Each call's result: "ok" or the errno's text; a child a clone made exits at once. */
  const script = `
    $| = 1;
    sub try { my ($name, $nr, @args) = @_; my $r = syscall($nr, @args); syscall(${NR.exit_group}, 0) if $r == 0 && $name =~ /^clone/; print "$name=", ($r == -1 ? "$!" : "ok"), "\\n"; }
    # clones first: after a successful unshare (the control) this process has no uid mapping
    try("clone_newuser", ${NR.clone}, ${CLONE_NEWUSER | SIGCHLD}, 0, 0, 0, 0);
    try("clone_plain", ${NR.clone}, ${SIGCHLD}, 0, 0, 0, 0);
    try("unshare_user", ${NR.unshare}, ${CLONE_NEWUSER});
    try("unshare_mount", ${NR.unshare}, ${CLONE_NEWNS});
    try("unshare_net", ${NR.unshare}, ${CLONE_NEWNET});
    try("setns_user", ${NR.setns}, 0, ${CLONE_NEWUSER});
  `;

  async function namespaceCalls(seccompProgram: Buffer): Promise<{ status: SandboxStatus; seen: Record<string, string> }> {
    const sandbox = await BwrapSandbox.create({
      bwrapPath: wrapper,
      tool: "/usr/bin/perl",
      includeDirs: [includeDir],
      tmpBytes: 1024 * 1024,
      seccompProgram,
      probe: PERL_PROBE,
    });
    const result = await sandbox.run({
      tool: "/usr/bin/perl",
      args: [`${SANDBOX_WORK_DIR}/src/probe.pl`],
      source: { name: "probe.pl", text: script },
      timeoutMs: 30_000,
      maxCaptureBytes: 65536,
      maxStdoutBytes: 65536,
    });
    expect(result.setupError).toBeUndefined();
    const seen = Object.fromEntries(
      result.stdout
        .trim()
        .split("\n")
        .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
    );
    return { status: sandbox.status, seen };
  }

  it("is what the sandbox falls back to, says so in its status, and refuses unshare, setns and clone with namespace flags", async () => {
    const { status, seen } = await namespaceCalls(compilerSeccompProgram());
    expect(status).toMatchObject({ mode: "bwrap", nestedUserns: "seccomp-only" });
    const EPERM = "Operation not permitted";
    expect(seen).toEqual({
      unshare_user: EPERM,
      unshare_mount: EPERM,
      unshare_net: EPERM,
      setns_user: EPERM,
      clone_newuser: EPERM,
      // fork-like clone (threads, clang's own children) stays allowed
      clone_plain: "ok",
    });
  });

  it("control: in the same mode with namespace calls let through the filter, the tool can make a user namespace (the filter is what refuses it)", async () => {
    const permissive = buildSeccompFilter(SECCOMP_DEFAULT_ERRNO, [
      ...compilerSeccompRules().filter((rule) => rule.syscall !== "clone"),
      { syscall: "clone", action: "allow" },
      { syscall: "unshare", action: "allow" },
      { syscall: "setns", action: "allow" },
    ]).program;
    const { status, seen } = await namespaceCalls(permissive);
    expect(status.nestedUserns).toBe("seccomp-only");
    expect(seen.unshare_user).toBe("ok");
    expect(seen.clone_newuser).toBe("ok");
    // setns on a file that is no namespace: the kernel's own refusal, not the filter's
    expect(seen.setns_user).toBe("Invalid argument");
  });
});

describe("both clang stages in one sandbox: the verdict between them, the shell's reach", { timeout: 120_000 }, () => {
  let clang: string;
  let sandbox: BwrapSandbox;

  beforeAll(async () => {
    clang = realpathSync(execFileSync("sh", ["-c", "command -v clang"], { encoding: "utf8" }).trim());
    sandbox = await BwrapSandbox.create({
      bwrapPath: "/usr/bin/bwrap",
      tool: clang,
      shell: realpathSync("/bin/dash"),
      includeDirs: [includeDir],
      tmpBytes: 1024 * 1024,
      seccompProgram: compilerSeccompProgram(),
    });
  });

  /** Stage 1 preprocesses the program; stage 2 is `clang --version`, which prints to stdout: it shows whether stage 2 ran. */
  function stages(decide: (one: StageOne) => Promise<boolean>, extra: { preprocessArgs?: string[]; timeoutMs?: number; text?: string } = {}) {
    return sandbox.runTwoStages({
      tool: clang,
      preprocessArgs: [...(extra.preprocessArgs ?? []), "-E", "/ebpf-operator/src/program.c"],
      compileArgs: ["--version"],
      source: { name: "program.c", text: extra.text ?? "int stage_one_ran = PAYLOAD;\n" },
      timeoutMs: extra.timeoutMs ?? 30_000,
      maxCaptureBytes: 65536,
      maxTextBytes: 1024 * 1024,
      maxStdoutBytes: 65536,
      decide,
    });
  }

  it("runs stage 2 only on the verdict: refused, failed or unanswered, nothing of it runs (control: accepted, it does)", async () => {
    const seen: string[] = [];
    const accepted = await stages(async (one) => (seen.push(one.text.toString()), true), { preprocessArgs: ["-DPAYLOAD=1"] });
    expect(seen[0]).toContain("int stage_one_ran = 1;");
    expect(accepted.compiled).toBe(true);
    expect(accepted.run.stdout).toMatch(/clang version/);
    expect(accepted.run.exitCode).toBe(0);

    const refused = await stages(async () => false, { preprocessArgs: ["-DPAYLOAD=1"] });
    expect(refused.stageOne?.exitCode).toBe(0);
    expect(refused.compiled).toBe(false);
    expect(refused.run.stdout).toBe("");
    expect(refused.run.exitCode).toBe(0);

    // The include policy throws: no verdict goes out, the error comes back once the sandbox is gone.
    const boom = new Error("policy refused");
    await expect(stages(async () => Promise.reject(boom), { preprocessArgs: ["-DPAYLOAD=1"] })).rejects.toBe(boom);
  });

  it("a parent that never answers leaves no process behind after the wall-time limit, and stage 2 never runs", async () => {
    const marker = `EOP_VERDICT_${process.pid}_${randomBytes(4).toString("hex")}`;
    const pgrep = (): string => {
      try {
        return execFileSync("pgrep", ["-af", marker], { encoding: "utf8" });
      } catch {
        return ""; // pgrep exits 1 when nothing matches
      }
    };
    let waiting = "";
    const started = Date.now();
    const hung = await stages(
      async () => {
        // The check below can fail: while the verdict is awaited, the sandbox's processes are there.
        waiting = pgrep();
        return new Promise<boolean>(() => undefined);
      },
      { preprocessArgs: [`-D${marker}=1`, "-DPAYLOAD=1"], timeoutMs: 1_500 },
    );
    expect(waiting).toContain("bwrap");
    expect(waiting).toContain("/bin/dash");
    expect(hung.run.timedOut).toBe(true);
    expect(hung.stageOne?.exitCode).toBe(0);
    expect(hung.compiled).toBe(false);
    expect(hung.run.stdout).toBe("");
    expect(Date.now() - started).toBeLessThan(10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(pgrep()).toBe("");
  });

  it("more preprocessed text than its limit kills the sandbox: no verdict is asked for, stage 2 never runs", async () => {
    let asked = false;
    const lines = ["#define A0 int filler_text_for_the_limit;", ...Array.from({ length: 12 }, (_, i) => `#define A${i + 1} A${i} A${i}`), "A12"];
    const result = await sandbox.runTwoStages({
      tool: clang,
      preprocessArgs: ["-E", "/ebpf-operator/src/program.c"],
      compileArgs: ["--version"],
      source: { name: "program.c", text: `${lines.join("\n")}\n` },
      timeoutMs: 30_000,
      maxCaptureBytes: 65536,
      maxTextBytes: 16 * 1024,
      maxStdoutBytes: 65536,
      decide: async () => (asked = true),
    });
    expect(result.run.outputOverflow).toBe(true);
    expect(result.stageOne).toBeUndefined();
    expect(asked).toBe(false);
    expect(result.compiled).toBe(false);
    expect(result.run.stdout).toBe("");
  });

  it("the shell never parses an argument: shell syntax in flags reaches clang as literal words", async () => {
    const payload = `$(touch /tmp/pwned-${process.pid}); exit 7; \`id\` "'\\`;
    const seen: string[] = [];
    const result = await stages(async (one) => (seen.push(one.text.toString()), false), {
      preprocessArgs: [`-DPAYLOAD=${JSON.stringify(payload)}`],
      text: "const char *stage_one_ran = PAYLOAD;\n",
    });
    expect(result.stageOne?.exitCode).toBe(0);
    expect(seen[0]).toContain(`const char *stage_one_ran = ${JSON.stringify(payload)};`);
    // The script is built from counts and descriptor numbers only.
    const script = twoStageScript(3, 2, stageFds(6));
    expect(script).not.toMatch(/PAYLOAD|touch|pwned/);
    expect(script.match(/\$\{?\d+\}?/g)).toEqual(["$1", "${2}", "${3}", "${4}", "$1", "${5}", "${6}"]);
  });

  it("stage 1 holds neither the status nor the verdict pipe, and both stages run under the seccomp filter", async () => {
    // A "clang" that reports what it can reach: perl, bound like clang, as both stages' tool.
    const perl = await BwrapSandbox.create({
      bwrapPath: "/usr/bin/bwrap",
      tool: "/usr/bin/perl",
      shell: realpathSync("/bin/dash"),
      includeDirs: [includeDir],
      tmpBytes: 1024 * 1024,
      seccompProgram: compilerSeccompProgram(),
      probe: PERL_PROBE,
    });
    const probe = `$| = 1;
      for my $fd (8, 9) { print "fd$fd=", (open(my $f, "+<&=", $fd) ? "open" : "$!"), "\\n"; }
      print "socket=", (socket(my $s, 2, 1, 0) ? "ok" : "$!"), "\\n";
      print "unshare=", (syscall(272, 0x10000000) == -1 ? "$!" : "ok"), "\\n";`;
    let stageOneSaw = "";
    const result = await perl.runTwoStages({
      tool: "/usr/bin/perl",
      preprocessArgs: [`${SANDBOX_WORK_DIR}/src/probe.pl`],
      compileArgs: [`${SANDBOX_WORK_DIR}/src/probe.pl`],
      source: { name: "probe.pl", text: probe },
      timeoutMs: 30_000,
      maxCaptureBytes: 65536,
      maxTextBytes: 65536,
      maxStdoutBytes: 65536,
      decide: async (one) => ((stageOneSaw = one.text.toString()), true),
    });
    const EPERM = "Operation not permitted";
    expect(stageOneSaw).toBe(`fd8=Bad file descriptor\nfd9=Bad file descriptor\nsocket=${EPERM}\nunshare=${EPERM}\n`);
    // Stage 2 is exec'd by the shell: the verdict pipe is closed for it too.
    expect(result.run.stdout).toBe(`fd8=Bad file descriptor\nfd9=Bad file descriptor\nsocket=${EPERM}\nunshare=${EPERM}\n`);
  });
});

describe("the include policy's verdict between the stages, in the compiler", { timeout: 120_000 }, () => {
  it("a program the policy refuses after preprocessing is never compiled (control: an accepted one is)", async () => {
    const outcomes: { compiled: boolean; stdout: number }[] = [];
    const real = BwrapSandbox.prototype.runTwoStages;
    const spy = vi.spyOn(BwrapSandbox.prototype, "runTwoStages").mockImplementation(async function (this: BwrapSandbox, job) {
      // The sandbox's start-up probe runs both stages too (on probe.c): not a compile.
      if (job.source.name !== "program.bpf.c") return real.call(this, job);
      try {
        const outcome = await real.call(this, job);
        outcomes.push({ compiled: outcome.compiled, stdout: outcome.run.stdoutBytes.length });
        return outcome;
      } catch (error) {
        outcomes.push({ compiled: false, stdout: -1 });
        throw error;
      }
    });
    try {
      const c = new BpfCompiler({ cacheDir: join(scratch, "cache-verdict"), includeDir, sandbox: "required" });
      // Passes the source pre-scan (a literal in asm), refused in the preprocessed text.
      const refused = await attempt(c, asm(`.incbin "${secret}"`));
      expect(refused.error?.code).toBe("EOP_ERR_COMPILE_INCLUDE_REFUSED");
      expect(outcomes).toEqual([{ compiled: false, stdout: -1 }]);
      const accepted = await attempt(c, "int accepted_program = 1;\n");
      expect(accepted.ok).toBe(true);
      expect(outcomes[1]?.compiled).toBe(true);
      expect(outcomes[1]?.stdout).toBeGreaterThan(0);
    } finally {
      spy.mockRestore();
    }
  });
});
