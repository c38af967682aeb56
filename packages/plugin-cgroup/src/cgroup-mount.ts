/**
 * Where the cgroup v2 hierarchy is mounted, and how a target's cgroup path maps into it.
 * The mount is read from /proc/self/mountinfo: it is `/sys/fs/cgroup` on unified-layout systems
 * and `/sys/fs/cgroup/unified` on hybrid ones (v1 controllers beside a v2 hierarchy).
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isAbsolute, join, normalize } from "node:path";

const MOUNTINFO = "/proc/self/mountinfo";

/** The first cgroup2 mount point in mountinfo text, or undefined when there is none. */
export function parseCgroup2Mount(mountinfo: string): string | undefined {
  for (const line of mountinfo.split("\n")) {
    const [before, after] = line.split(" - ");
    if (after?.split(" ")[0] !== "cgroup2") continue;
    const mountPoint = before!.split(" ")[4];
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    if (mountPoint) return mountPoint.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  }
  return undefined;
}

export async function findCgroup2Mount(mountinfoPath = MOUNTINFO): Promise<string | undefined> {
  return parseCgroup2Mount(await readFile(mountinfoPath, "utf8").catch(() => ""));
}

export function findCgroup2MountSync(mountinfoPath = MOUNTINFO): string | undefined {
  try {
    return parseCgroup2Mount(readFileSync(mountinfoPath, "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * The directory of `cgroup` below `mount`: a path already below the mount point is kept, any
 * other path is a path in the hierarchy (relative to its root).
 */
export function cgroupDirectory(mount: string, cgroup: string): string {
  const path = normalize(cgroup);
  if (isAbsolute(path) && (path === mount || path.startsWith(`${mount}/`))) return path.replace(/\/+$/, "") || "/";
  return join(mount, path).replace(/\/+$/, "") || "/";
}

/** The hierarchy path (`/system.slice`, `/` for the root) of a directory below `mount`. */
export function cgroupPathOf(mount: string, directory: string): string {
  return directory === mount ? "/" : directory.slice(mount.length);
}
