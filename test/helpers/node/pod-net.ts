/**
 * What a pod's network namespace holds, seen from the host (the test's process, in the
 * machine's namespaces): entered through a process of the pod (found in the pod's cgroup v2
 * directory) with nsenter, read with iproute2 and /proc/net/packet. Only reads.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

export interface IpLink {
  ifname: string;
  ifindex: number;
  /** Set when the device's peer (a veth's other end) is in another namespace. */
  link_netnsid?: number;
  /** `mode` 1 native, 2 generic (XDP_ATTACHED_SKB). */
  xdp?: { mode?: number; prog?: { id: number }; attached?: { prog?: { id: number } }[] };
}

/** A process of the pod whose cgroup v2 directory (as the host sees it) is `podCgroup`: the sandbox's or a container's. */
export function podPid(podCgroup: string): number {
  const pids = readdirSync(podCgroup, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) =>
      readFileSync(join(podCgroup, e.name, "cgroup.procs"), "utf8")
        .trim()
        .split("\n")
        .filter(Boolean)
        .map(Number),
    );
  if (pids.length === 0) throw new Error(`no process in ${podCgroup}`);
  return pids[0]!;
}

/** `ip -j -d link show` in the pod's network namespace. */
export function podLinks(podCgroup: string): IpLink[] {
  return JSON.parse(execFileSync("nsenter", ["-t", String(podPid(podCgroup)), "-n", "ip", "-j", "-d", "link", "show"], { encoding: "utf8" })) as IpLink[];
}

/** The ifindexes the packet sockets of the pod's network namespace are bound to (`/proc/net/packet` read inside it). */
export function podPacketSockets(podCgroup: string): number[] {
  return execFileSync("nsenter", ["-t", String(podPid(podCgroup)), "-n", "cat", "/proc/net/packet"], { encoding: "utf8" })
    .trim()
    .split("\n")
    .slice(1)
    .map((line) => Number(line.trim().split(/\s+/)[4]));
}

/** The XDP program ids attached to each interface (`ip -j -d link show` gives one both as `prog` and in `attached`). */
export function xdpOf(links: IpLink[]): Record<string, number[]> {
  return Object.fromEntries(
    links.map((l) => [
      l.ifname,
      [...new Set([l.xdp?.prog?.id, ...(l.xdp?.attached ?? []).map((a) => a.prog?.id)])].filter((id): id is number => id !== undefined),
    ]),
  );
}
