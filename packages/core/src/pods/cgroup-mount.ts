/**
 * Where the cgroup v2 hierarchy is mounted, read from /proc/self/mountinfo: `/sys/fs/cgroup` on
 * unified-layout systems, `/sys/fs/cgroup/unified` on hybrid ones (v1 controllers beside a v2
 * hierarchy that tracks processes only). `root` is the part of the hierarchy the mount shows
 * (`/` for the whole of it; a cgroup-namespaced mount shows a subtree), which the levels of
 * cgroups below the mount are counted from.
 */
import { readFile } from "node:fs/promises";

const MOUNTINFO = "/proc/self/mountinfo";

export interface Cgroup2Mount {
  /** Where it is mounted. */
  path: string;
  /** The hierarchy path shown at `path` (`/`, or deeper for a namespaced mount). */
  root: string;
}

const unescape = (text: string) => text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** The first cgroup2 mount in mountinfo text, or undefined when there is none. */
export function parseCgroup2MountInfo(mountinfo: string): Cgroup2Mount | undefined {
  for (const line of mountinfo.split("\n")) {
    const [before, after] = line.split(" - ");
    if (after?.split(" ")[0] !== "cgroup2") continue;
    const fields = before!.split(" ");
    const root = fields[3];
    const path = fields[4];
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    if (path && root) return { path: unescape(path), root: unescape(root) };
  }
  return undefined;
}

export async function findCgroup2Mount(mountinfoPath = MOUNTINFO): Promise<string | undefined> {
  return (await findCgroup2MountInfo(mountinfoPath))?.path;
}

export async function findCgroup2MountInfo(mountinfoPath = MOUNTINFO): Promise<Cgroup2Mount | undefined> {
  return parseCgroup2MountInfo(await readFile(mountinfoPath, "utf8").catch(() => ""));
}
