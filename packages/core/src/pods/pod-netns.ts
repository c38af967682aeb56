/**
 * A pod's network namespace, from /proc: the namespace of the pod's first process. Every
 * container of a pod joins the sandbox's network namespace, which the sandbox's process (the
 * pause process, or the runtime's pinned namespace) holds from before any container starts.
 * A container with CAP_SYS_ADMIN could `unshare` a namespace of its own later; taking the
 * earliest-started process of the pod's cgroup keeps such a process from changing which
 * namespace is the pod's. Namespaces are told apart by `/proc/<pid>/ns/net`'s device and inode
 * (what `ip netns identify` compares); a pod in the node's own namespace (hostNetwork) is said
 * to be, since no interface is its own.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";

export interface PodNetns {
  /** The process whose namespace it is (the pod's earliest-started visible process). */
  pid: number;
  /** `/proc/<pid>/ns/net`: open it (or `setns` to it) to reach the namespace. */
  path: string;
  dev: bigint;
  inode: bigint;
  /** The namespace is the agent's own: the pod uses the node's network (`hostNetwork: true`). */
  hostNetwork: boolean;
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks after boot (the comm field may hold spaces). */
async function startTime(procRoot: string, pid: number): Promise<bigint | undefined> {
  const text = await readFile(join(procRoot, String(pid), "stat"), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const value = fields[19]; // field 22, counted from field 3 (state)
  return value !== undefined && /^\d+$/.test(value) ? BigInt(value) : undefined;
}

/**
 * The network namespace of the pod whose processes (in the agent's PID namespace) are `pids`;
 * undefined when none of them is visible any more. The agent needs the host's PID namespace
 * (`hostPID`) to see them.
 */
export async function podNetns(pids: readonly number[], procRoot = "/proc"): Promise<PodNetns | undefined> {
  const candidates: { pid: number; start: bigint }[] = [];
  for (const pid of pids) {
    const start = await startTime(procRoot, pid);
    if (start !== undefined) candidates.push({ pid, start });
  }
  candidates.sort((a, b) => (a.start === b.start ? a.pid - b.pid : a.start < b.start ? -1 : 1));
  const own = await stat(join(procRoot, "self", "ns", "net"), { bigint: true });
  for (const { pid } of candidates) {
    const path = join(procRoot, String(pid), "ns", "net");
    const info = await stat(path, { bigint: true }).catch(() => undefined);
    if (!info) continue; // exited meanwhile
    return { pid, path, dev: info.dev, inode: info.ino, hostNetwork: info.dev === own.dev && info.ino === own.ino };
  }
  return undefined;
}
