/**
 * The pseudo file systems the agent needs. Neither bpffs nor tracefs is mounted at boot on every
 * machine (see docs/architecture.md); the agent mounts them when it can and says so.
 */
import { execFile } from "node:child_process";
import { mkdir, statfs } from "node:fs/promises";
import { promisify } from "node:util";
import { operatorError } from "../errors.js";

const execFileAsync = promisify(execFile);

export const BPF_FS_MAGIC = 0xcafe4a11;
export const TRACEFS_MAGIC = 0x74726163;
export const DEBUGFS_MAGIC = 0x64626720;

export const DEFAULT_BPFFS = "/sys/fs/bpf";
const TRACEFS_CANDIDATES = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

async function fsMagic(path: string): Promise<number | undefined> {
  try {
    return (await statfs(path)).type;
  } catch {
    return undefined;
  }
}

async function mount(type: string, path: string): Promise<void> {
  await mkdir(path, { recursive: true });
  await execFileAsync("mount", ["-t", type, type, path]);
}

/**
 * Ensures `path` lies on a bpffs. When it does not and it is below `/sys/fs/bpf`, mounts bpffs
 * there. Throws with the reason otherwise (pins on another file system are impossible).
 */
export async function ensureBpffs(path: string): Promise<void> {
  if ((await fsMagic(await existingAncestor(path))) === BPF_FS_MAGIC) return;
  if (path === DEFAULT_BPFFS || path.startsWith(`${DEFAULT_BPFFS}/`)) {
    await mount("bpf", DEFAULT_BPFFS);
    if ((await fsMagic(DEFAULT_BPFFS)) === BPF_FS_MAGIC) return;
  }
  throw operatorError("EOP_ERR_KERNEL_MOUNT", `${path} is not on a bpf file system (mount one with: mount -t bpf bpf ${DEFAULT_BPFFS})`);
}

/** Returns the tracefs mount, mounting it at /sys/kernel/tracing when none is mounted. */
export async function ensureTracefs(): Promise<string> {
  for (const candidate of TRACEFS_CANDIDATES) {
    if ((await fsMagic(candidate)) === TRACEFS_MAGIC) return candidate;
  }
  await mount("tracefs", TRACEFS_CANDIDATES[0]!);
  if ((await fsMagic(TRACEFS_CANDIDATES[0]!)) === TRACEFS_MAGIC) return TRACEFS_CANDIDATES[0]!;
  throw operatorError("EOP_ERR_KERNEL_MOUNT", "tracefs is not mounted and mounting it at /sys/kernel/tracing failed");
}

async function existingAncestor(path: string): Promise<string> {
  let current = path;
  for (;;) {
    if ((await fsMagic(current)) !== undefined) return current;
    const parent = current.replace(/\/[^/]+\/?$/, "") || "/";
    if (parent === current) return current;
    current = parent;
  }
}
