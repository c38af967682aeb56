/**
 * Pod scope: the binary a uprobe target names, as the pod's containers see it. A process of the
 * pod shows its container's root filesystem at `/proc/<pid>/root`; the file is looked up there,
 * in each container of the pod (the pause container's root has no application binary: skipped).
 *
 * The path is the tenant's, and the container's files are the tenant's too: a symlink in the
 * image or written at run time may point at `/` or climb with `..`. Walking
 * `/proc/<pid>/root/<path>` with ordinary path resolution would follow an absolute symlink from
 * the agent's root (the node's), and `..` out of the container's root. So the path is resolved
 * here one component at a time, each directory opened and the next component looked up through
 * that open directory (`/proc/self/fd/<fd>/<name>`, O_NOFOLLOW: a component swapped for a
 * symlink meanwhile is refused, not followed): symlinks are read and resolved against the
 * container's root, `..` stops at it (what openat2's RESOLVE_IN_ROOT does; Node has no openat2).
 * The result is an open file: the probe is attached through `/proc/self/fd/<fd>`, so the file
 * attached is the file checked, whatever the container renames meanwhile.
 */
import { constants } from "node:fs";
import { lstat, open, readFile, readdir, readlink, stat, type FileHandle } from "node:fs/promises";
import { join } from "node:path";

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = constants;
/** Symlinks followed in one lookup (the kernel's own limit). */
const MAX_SYMLINKS = 40;
/** Processes of a pod looked at (the first of each container root is enough). */
const MAX_PIDS = 256;

export class InRootError extends Error {
  override readonly name = "InRootError";
}

/**
 * Opens `path` (absolute, as the container sees it) below the directory `root` is open on,
 * never leaving it: absolute symlinks restart at `root`, `..` at `root` stays there. The file
 * must be a regular file (a FIFO or device is never opened for reading). Throws InRootError.
 */
export async function openInRoot(root: FileHandle, path: string): Promise<FileHandle> {
  const stack: FileHandle[] = [];
  const top = () => stack.at(-1) ?? root;
  const pop = async () => stack.pop()?.close();
  const parts = split(path);
  let links = 0;
  try {
    while (parts.length > 0) {
      const name = parts.shift()!;
      if (name === "..") {
        await pop(); // at the root: stays there
        continue;
      }
      const at = `/proc/self/fd/${top().fd}/${name}`;
      const info = await lstat(at).catch((error: NodeJS.ErrnoException) => {
        throw new InRootError(error.code === "ENOENT" ? `${path} does not exist` : `${path}: ${error.code ?? error.message}`);
      });
      if (info.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw new InRootError(`${path}: more than ${MAX_SYMLINKS} symbolic links`);
        const to = await readlink(at).catch(() => {
          throw new InRootError(`${path} changed while it was looked up`);
        });
        if (to.startsWith("/")) while (stack.length > 0) await pop();
        parts.unshift(...split(to));
        continue;
      }
      if (parts.length > 0) {
        if (!info.isDirectory()) throw new InRootError(`${path}: ${name} is not a directory`);
        stack.push(await openOrRefuse(at, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, path));
        continue;
      }
      if (!info.isFile()) throw new InRootError(`${path} is not a regular file`);
      const file = await openOrRefuse(at, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, path);
      if (!(await file.stat()).isFile()) {
        await file.close();
        throw new InRootError(`${path} is not a regular file`);
      }
      return file;
    }
    throw new InRootError(`${path} names a directory, not a file`);
  } finally {
    for (const handle of stack) await handle.close();
  }
}

function split(path: string): string[] {
  return path.split("/").filter((p) => p !== "" && p !== ".");
}

async function openOrRefuse(at: string, flags: number, path: string): Promise<FileHandle> {
  return open(at, flags).catch((error: NodeJS.ErrnoException) => {
    throw new InRootError(error.code === "ELOOP" ? `${path} changed while it was looked up` : `${path}: ${error.code ?? error.message}`);
  });
}

/** The processes of a pod's cgroup tree (`directory`, the host's view), container by container. */
export async function podProcesses(directory: string, limit = MAX_PIDS): Promise<number[]> {
  const out: number[] = [];
  const pending = [directory];
  while (pending.length > 0 && out.length < limit) {
    const dir = pending.shift()!;
    const text = await readFile(join(dir, "cgroup.procs"), "utf8").catch(() => "");
    for (const line of text.split("\n")) if (/^[1-9]\d*$/.test(line)) out.push(Number(line));
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (entry.isDirectory()) pending.push(join(dir, entry.name));
  }
  return out.slice(0, limit);
}

/** The process's cgroup v2 path is `cgroupPath` or below it. */
async function inCgroup(pid: number, cgroupPath: string, procRoot: string): Promise<boolean> {
  const text = await readFile(join(procRoot, String(pid), "cgroup"), "utf8").catch(() => "");
  return text.split("\n").some((line) => {
    const path = line.startsWith("0::") ? line.slice(3) : undefined;
    return path !== undefined && (path === cgroupPath || path.startsWith(`${cgroupPath}/`));
  });
}

/** A file found in one of a pod's containers, open. */
export interface PodFile {
  file: FileHandle;
  /** `<device>:<inode>`: equal for every container sharing the file (an image layer, a hard link). */
  key: string;
  /** The process whose root it was found through. */
  pid: number;
}

export interface PodLookup {
  found: PodFile[];
  /** Why each container root without the file was skipped (for the error when none has it). */
  skipped: string[];
}

/**
 * Opens `paths` (the first that exists, in order) in each distinct root among the pod's
 * processes. A process is the pod's when its cgroup is below `cgroupPath` after its root was
 * opened (a pid reused meanwhile by another process is skipped). Roots that are the node's own
 * (the agent's or init's: a process that shares the node's filesystem) are never searched.
 */
export async function openInPod(pod: { directory: string; path: string }, paths: readonly string[], procRoot = "/proc"): Promise<PodLookup> {
  const node = await Promise.all([
    stat(join(procRoot, "self", "root"), { bigint: true }),
    stat(join(procRoot, "1", "root"), { bigint: true }).catch(() => undefined),
  ]);
  const seenRoots = new Set<string>();
  const found = new Map<string, PodFile>();
  const skipped: string[] = [];
  for (const pid of await podProcesses(pod.directory)) {
    const root = await open(join(procRoot, String(pid), "root"), O_RDONLY | O_DIRECTORY).catch(() => undefined);
    if (!root) continue; // exited
    try {
      const info = await root.stat({ bigint: true });
      const id = `${info.dev}:${info.ino}`;
      if (seenRoots.has(id)) continue;
      if (!(await inCgroup(pid, pod.path, procRoot))) continue;
      seenRoots.add(id);
      if (node.some((n) => n !== undefined && n.dev === info.dev && n.ino === info.ino)) {
        skipped.push(`process ${pid}: its root is the node's own filesystem`);
        continue;
      }
      const problems: string[] = [];
      for (const path of paths) {
        const file = await openInRoot(root, path).catch((error: unknown) => {
          if (error instanceof InRootError) problems.push(error.message);
          else throw error;
          return undefined;
        });
        if (!file) continue;
        const fileInfo = await file.stat({ bigint: true });
        const key = `${fileInfo.dev}:${fileInfo.ino}`;
        if (found.has(key)) await file.close();
        else found.set(key, { file, key, pid });
        problems.length = 0;
        break;
      }
      if (problems.length > 0) skipped.push(`process ${pid}: ${paths.length === 1 ? problems[0] : `none of ${paths.length} places`}`);
    } finally {
      await root.close();
    }
  }
  return { found: [...found.values()], skipped };
}
