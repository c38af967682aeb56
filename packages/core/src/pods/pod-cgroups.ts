/**
 * The pods' cgroups in the cgroup v2 hierarchy, found by walking it: every directory whose name
 * is a pod's (cgroup-layout.ts), with its container directories. The walk descends only where
 * pods can be: through the first levels of the hierarchy (the kubelet's cgroupRoot may put the
 * kubepods tree anywhere up to `MAX_ROOT_DEPTH` down), and below that only into kubepods and QoS
 * levels, never into a pod's containers' subtrees. Once kubepods roots are known, later scans
 * walk only them, and a full walk happens again only when a pod is missing (rate-limited).
 *
 * A cgroup's id (what `bpf_get_current_cgroup_id()` and `bpf_skb_cgroup_id()` return) is its
 * directory's inode number on cgroup v2; its level is its depth below the hierarchy's root
 * (what `bpf_get_current_ancestor_cgroup_id()` takes).
 *
 * Only directories owned by root are walked. The kubelet and the runtime create every cgroup
 * of the kubepods tree as root; a cgroup delegated to an unprivileged user (a systemd user
 * session, a rootless container engine) is owned by that user, and so is everything made
 * below it. Without the check such a user could make `.../kubepods/pod<alice's UID>` and
 * have alice's pod-scoped program attached to their own processes. A UID that still shows up
 * twice is reported as ambiguous and left out, never guessed.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Cgroup2Mount } from "./cgroup-mount.js";
import { isPodParentSegment, parseContainerSegment, parsePodSegment, type ContainerRuntime, type CgroupDriver } from "./cgroup-layout.js";

/** A cgroup v2 directory and what BPF programs know it by. */
export interface CgroupRef {
  /** The directory as the agent sees it (below the mount). */
  directory: string;
  /** The path in the hierarchy (`/kubepods/besteffort/pod.../...`). */
  path: string;
  /** The cgroup id: the directory's inode number. */
  id: bigint;
  /** Depth below the hierarchy's root (the root is 0). */
  level: number;
}

export interface ContainerCgroup extends CgroupRef {
  containerId: string;
  runtime: ContainerRuntime;
  conmon: boolean;
}

export interface PodCgroup extends CgroupRef {
  podUid: string;
  driver: CgroupDriver;
  /** The pod's child cgroups that are containers (the sandbox's among them; CRI-O's conmon ones marked). */
  containers: ContainerCgroup[];
}

/** How deep below the mount a kubepods root may start (cgroupRoot prefixes). */
const MAX_ROOT_DEPTH = 4;

/** Subdirectories owned by root: see the file comment for why others are never walked. */
async function rootOwnedSubdirectories(directory: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(directory, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return []; // removed while walking
  }
  const owned: string[] = [];
  for (const name of names) {
    const info = await stat(join(directory, name)).catch(() => undefined);
    if (info?.uid === 0) owned.push(name);
  }
  return owned;
}

async function cgroupRef(mount: Cgroup2Mount, directory: string): Promise<CgroupRef | undefined> {
  try {
    const info = await stat(directory, { bigint: true });
    const relative = directory.slice(mount.path.length);
    const path = `${mount.root === "/" ? "" : mount.root}${relative}` || "/";
    return { directory, path, id: info.ino, level: path.split("/").filter((s) => s !== "").length };
  } catch {
    return undefined;
  }
}

export interface PodCgroupScan {
  /** Every pod cgroup found, by pod UID. */
  pods: Map<string, PodCgroup>;
  /** UIDs found in more than one place: left out of `pods`, since which one is the kubelet's cannot be told. */
  ambiguous: Map<string, string[]>;
  /** Set when this node has no cgroup v2 hierarchy at all (cgroup v1 only): no pod cgroup can be found. */
  noCgroup2?: boolean;
}

export class PodCgroupIndex {
  /** Directories known to hold pods or QoS levels (kubepods roots), walked on every scan. */
  private readonly roots = new Set<string>();
  private lastFullWalk = Number.NEGATIVE_INFINITY;
  /** Full walks so far (tests, debugging). */
  fullWalks = 0;

  constructor(
    readonly mount: Cgroup2Mount,
    private readonly options: { fullWalkIntervalMs?: number; now?: () => number } = {},
  ) {}

  /**
   * Every pod cgroup found now, by UID. `wanted`: UIDs the caller expects; when one is not found
   * under the known roots, the top of the hierarchy is walked again (at most once per
   * `fullWalkIntervalMs`, default 5 s), for a kubelet that started (or a cgroupRoot that moved)
   * after the last walk.
   */
  scan(wanted: Iterable<string> = []): Promise<PodCgroupScan> {
    // One scan at a time: two at once share the roots and the full-walk rate limit, and the
    // second would return before the first's full walk found the roots (pods missing from it).
    const run = this.scanning.then(() => this.scanOnce([...wanted]));
    this.scanning = run.catch(() => undefined);
    return run;
  }

  private scanning: Promise<unknown> = Promise.resolve();

  private async scanOnce(wanted: readonly string[]): Promise<PodCgroupScan> {
    const now = (this.options.now ?? Date.now)();
    let found = await this.walkRoots();
    const missing = wanted.some((uid) => !found.pods.has(uid));
    if ((this.roots.size === 0 || missing) && now - this.lastFullWalk >= (this.options.fullWalkIntervalMs ?? 5_000)) {
      this.lastFullWalk = now;
      this.fullWalks++;
      await this.walkTop(this.mount.path, 0);
      found = await this.walkRoots();
    }
    return found;
  }

  /** Looks for kubepods roots in the first levels of the hierarchy. */
  private async walkTop(directory: string, depth: number): Promise<void> {
    for (const name of await rootOwnedSubdirectories(directory)) {
      const child = join(directory, name);
      if (parsePodSegment(name)) {
        this.roots.add(directory); // pods right below a cgroupRoot (no kubepods level)
        continue;
      }
      if (isPodParentSegment(name)) {
        this.roots.add(child);
        continue;
      }
      if (depth + 1 < MAX_ROOT_DEPTH) await this.walkTop(child, depth + 1);
    }
  }

  private async walkRoots(): Promise<PodCgroupScan> {
    const all = new Map<string, PodCgroup[]>();
    for (const root of [...this.roots]) {
      const info = await stat(root).catch(() => undefined);
      if (info?.uid !== 0) {
        this.roots.delete(root);
        continue;
      }
      await this.walkPodParent(root, all, 0);
    }
    const pods = new Map<string, PodCgroup>();
    const ambiguous = new Map<string, string[]>();
    for (const [uid, found] of all) {
      if (found.length === 1) pods.set(uid, found[0]!);
      else ambiguous.set(uid, found.map((p) => p.path).sort());
    }
    return { pods, ambiguous };
  }

  private async walkPodParent(directory: string, found: Map<string, PodCgroup[]>, depth: number): Promise<void> {
    for (const name of await rootOwnedSubdirectories(directory)) {
      const child = join(directory, name);
      const pod = parsePodSegment(name);
      if (pod) {
        const ref = await cgroupRef(this.mount, child);
        if (!ref) continue;
        const entry: PodCgroup = { ...ref, podUid: pod.podUid, driver: pod.driver, containers: await this.containers(child) };
        const list = found.get(pod.podUid) ?? [];
        // The same directory reached through two roots (a root below another) is one pod.
        if (!list.some((p) => p.directory === entry.directory)) list.push(entry);
        found.set(pod.podUid, list);
      } else if (depth < 2 && isPodParentSegment(name)) {
        await this.walkPodParent(child, found, depth + 1);
      }
    }
  }

  private async containers(podDirectory: string): Promise<ContainerCgroup[]> {
    const out: ContainerCgroup[] = [];
    for (const name of await rootOwnedSubdirectories(podDirectory)) {
      const container = parseContainerSegment(name);
      if (!container) continue;
      const ref = await cgroupRef(this.mount, join(podDirectory, name));
      if (ref) out.push({ ...ref, containerId: container.id, runtime: container.runtime, conmon: container.conmon });
    }
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }
}

/**
 * The process ids in a cgroup and every cgroup below it, as this process's PID namespace numbers
 * them (processes it cannot see are left out). Processes sit in the leaves on cgroup v2.
 */
export async function cgroupPids(directory: string, limit = 64): Promise<number[]> {
  const out: number[] = [];
  const pending = [directory];
  while (pending.length > 0 && out.length < limit) {
    const dir = pending.pop()!;
    const text = await readFile(join(dir, "cgroup.procs"), "utf8").catch(() => "");
    for (const line of text.split("\n")) {
      const pid = Number(line);
      if (Number.isInteger(pid) && pid > 0) out.push(pid);
    }
    for (const name of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (name.isDirectory()) pending.push(join(dir, name.name));
  }
  return out.slice(0, limit);
}
