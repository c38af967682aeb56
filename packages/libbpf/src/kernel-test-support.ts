/**
 * Helpers shared by the `*.kernel.test.ts` files: capability checks, fixture compilation and
 * per-test scratch directories. Not part of the package's public API.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const FIXTURES = fileURLToPath(new URL("../test/fixtures/", import.meta.url));

function mountedAt(dir: string, fstype: string): boolean {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .some((line) => {
      const [, mountPoint, type] = line.split(" ");
      return mountPoint === dir && type === fstype;
    });
}

function ensureMount(dir: string, fstype: string): void {
  if (mountedAt(dir, fstype)) return;
  try {
    execFileSync("mount", ["-t", fstype, fstype, dir], { stdio: "pipe" });
  } catch (e) {
    throw new Error(`kernel tests need ${fstype} mounted at ${dir} and mounting it failed`, { cause: e });
  }
  if (!mountedAt(dir, fstype)) throw new Error(`kernel tests need ${fstype} mounted at ${dir}`);
}

/**
 * Fails loudly (never skips) when the machine cannot run the kernel tests: not root, or bpffs /
 * tracefs missing and not mountable.
 */
export function requireKernel(): void {
  if (process.getuid?.() !== 0) throw new Error("kernel tests must run as root (CAP_BPF, CAP_SYS_ADMIN, CAP_NET_ADMIN)");
  ensureMount("/sys/fs/bpf", "bpf");
  ensureMount("/sys/kernel/tracing", "tracefs");
  if (!existsSync("/sys/kernel/btf/vmlinux")) throw new Error("kernel tests need kernel BTF (/sys/kernel/btf/vmlinux)");
}

/** A fresh temporary directory (removed by the returned cleanup). */
export function makeTempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "ebpf-libbpf-test-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Compiles test/fixtures/<name>.bpf.c into `outDir`, returns the object path. */
export function compileFixture(name: string, outDir: string): string {
  const out = join(outDir, `${name}.bpf.o`);
  execFileSync(
    "clang",
    ["-target", "bpf", "-O2", "-g", "-D__TARGET_ARCH_x86", "-I/usr/include/x86_64-linux-gnu", "-c", join(FIXTURES, `${name}.bpf.c`), "-o", out],
    { stdio: "pipe" },
  );
  return out;
}

/** Compiles a user-space fixture (test/fixtures/<name>.c) into an executable in `outDir`. */
export function compileProgram(name: string, outDir: string): string {
  const out = join(outDir, name);
  execFileSync("clang", ["-O1", "-g", "-o", out, join(FIXTURES, `${name}.c`)], { stdio: "pipe" });
  return out;
}

/** A per-test directory in bpffs for pins; `remove()` deletes it and everything pinned in it. */
export function makePinDir(): { dir: string; remove(): void } {
  const dir = `/sys/fs/bpf/ebpf-libbpf-test-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  mkdirSync(dir);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `/bin/true` n times (n execve syscalls). */
export function spawnTrue(n: number): void {
  for (let i = 0; i < n; i++) execFileSync("/bin/true");
}

/** Reads a little-endian u64 counter out of an 8-byte value. */
export function u64(value: Buffer | undefined): bigint {
  if (value === undefined) throw new Error("missing value");
  return value.readBigUInt64LE(0);
}

/** A 4-byte little-endian key. */
export function u32Key(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
