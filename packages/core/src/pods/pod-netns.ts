/**
 * A pod's network namespace, from /proc: the namespace of the pod's first process. Every
 * container of a pod joins the sandbox's network namespace, which the sandbox's process (the
 * pause process, or the runtime's pinned namespace) holds from before any container starts.
 * A container with CAP_SYS_ADMIN could `unshare` a namespace of its own later; taking the
 * earliest-started process of the pod's cgroup keeps such a process from changing which
 * namespace is the pod's. Namespaces are told apart by `/proc/<pid>/ns/net`'s device and inode
 * (what `ip netns identify` compares); a pod in the node's own namespace (hostNetwork: the
 * agent's, or init's) is said to be, since no interface is its own.
 */
import { open, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { cgroupPids } from "./pod-cgroups.js";

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
  // The node's namespace: the agent's own, and (with the host's PID namespace) init's, should the
  // agent itself not run on the node's network.
  const own = await stat(join(procRoot, "self", "ns", "net"), { bigint: true });
  const init = await stat(join(procRoot, "1", "ns", "net"), { bigint: true }).catch(() => own);
  for (const { pid } of candidates) {
    const path = join(procRoot, String(pid), "ns", "net");
    const info = await stat(path, { bigint: true }).catch(() => undefined);
    if (!info) continue; // exited meanwhile
    const node = [own, init].some((n) => n.dev === info.dev && n.ino === info.ino);
    return { pid, path, dev: info.dev, inode: info.ino, hostNetwork: node };
  }
  return undefined;
}

/** A pod's network namespace, open (see `openPodNetns`). */
export interface OpenPodNetns {
  /** An fd of the namespace: valid until `close()`. */
  fd: number;
  inode: bigint;
  pid: number;
  close(): Promise<void>;
}

export type PodNetnsLookup =
  | { found: "open"; netns: OpenPodNetns }
  | { found: "hostNetwork"; pid: number }
  /** No process of the pod is visible: none started yet, or the agent lacks the host's PID namespace. */
  | { found: "none" };

/**
 * Opens the network namespace of the pod whose cgroup is `cgroupDirectory` (`cgroupPath` in the
 * hierarchy): its earliest process's (`podNetns`). The namespace is opened by that process's
 * `/proc/<pid>/ns/net`, then checked to be the one found and the process to still be the pod's
 * (its `/proc/<pid>/cgroup` below the pod's cgroup): a process id reused by another process
 * between the two reads cannot hand over that process's namespace. The node's own namespace
 * (hostNetwork) is never opened.
 */
export async function openPodNetns(cgroupDirectory: string, cgroupPath: string, procRoot = "/proc"): Promise<PodNetnsLookup> {
  const found = await podNetns(await cgroupPids(cgroupDirectory), procRoot);
  if (!found) return { found: "none" };
  if (found.hostNetwork) return { found: "hostNetwork", pid: found.pid };
  const handle = await open(found.path, "r").catch(() => undefined);
  if (!handle) return { found: "none" };
  try {
    const info = await handle.stat({ bigint: true });
    const cgroups = await readFile(join(procRoot, String(found.pid), "cgroup"), "utf8").catch(() => "");
    const stillThePods = cgroups.split("\n").some((line) => {
      const path = line.startsWith("0::") ? line.slice(3) : undefined;
      return path !== undefined && (path === cgroupPath || path.startsWith(`${cgroupPath}/`));
    });
    if (info.ino !== found.inode || info.dev !== found.dev || !stillThePods) {
      await handle.close();
      return { found: "none" };
    }
  } catch (error) {
    await handle.close();
    throw error;
  }
  return { found: "open", netns: { fd: handle.fd, inode: found.inode, pid: found.pid, close: () => handle.close() } };
}
