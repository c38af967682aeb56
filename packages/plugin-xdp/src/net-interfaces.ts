/**
 * The network interfaces the agent sees, read from sysfs (`/sys/class/net/<name>/ifindex`).
 * sysfs shows the interfaces of the network namespace it was mounted in, which for the agent is
 * its own namespace: that is also where XDP attaches, by ifindex.
 */
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { PluginTargetError, closestNames } from "@ebpf-operator/core/sdk";
import { netnsLinks } from "@ebpf-operator/libbpf";
import { isGlob, matchesGlob, type ResolvedInterface } from "./xdp-target.js";

export const SYS_CLASS_NET = "/sys/class/net";

/** Every interface with its ifindex; an interface removed mid-scan is left out. */
export async function listInterfaces(root = SYS_CLASS_NET): Promise<ResolvedInterface[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  const found = await Promise.all(
    names.map(async (name) => {
      const text = await readFile(join(root, name, "ifindex"), "utf8").catch(() => undefined);
      return text === undefined ? undefined : { name, ifindex: Number(text.trim()) };
    }),
  );
  return found.filter((i): i is ResolvedInterface => i !== undefined && Number.isInteger(i.ifindex) && i.ifindex > 0);
}

/**
 * The interfaces that names and globs select, in the order written, each once. A name that does
 * not exist, or a glob that matches nothing, fails with the closest existing names; `label`
 * starts that message (`xdp target`, say).
 */
export function selectInterfaces(wanted: readonly string[], available: readonly ResolvedInterface[], label = "xdp target"): ResolvedInterface[] {
  const selected = new Map<number, ResolvedInterface>();
  const names = available.map((i) => i.name);
  for (const pattern of wanted) {
    const matches = available.filter((i) => (isGlob(pattern) ? matchesGlob(pattern, i.name) : i.name === pattern));
    if (matches.length === 0) {
      const what = isGlob(pattern) ? `no interface matches "${pattern}"` : `interface "${pattern}" does not exist`;
      const near = closestNames(pattern.replaceAll("*", ""), names);
      throw new PluginTargetError(
        "EOP_ERR_TARGET_NOT_FOUND",
        `${label}: ${what} in the agent's network namespace${near.length ? ` (did you mean ${near.join(", ")}?)` : ` (interfaces: ${names.join(", ") || "none"})`}`,
      );
    }
    for (const match of matches.sort((a, b) => a.ifindex - b.ifindex)) selected.set(match.ifindex, match);
  }
  return [...selected.values()];
}

/**
 * A pod's own interfaces, in the pod's network namespace (`netnsFd`), as the kernel reports them:
 * the devices that connect the namespace to the outside — a veth whose peer, or an ipvlan or
 * macvlan whose lower device, is in another namespace (`IFLA_LINK_NETNSID`) — and devices
 * without a link kind (a physical device or VF a CNI moved in). Not loopback, and not the
 * devices a process of the pod can make itself (a dummy, a veth pair or a tunnel inside the
 * namespace: each has a kind and nothing outside). Names are not looked at (whoever holds
 * CAP_NET_ADMIN in the pod chooses them; they are only shown, cleaned). Sorted by ifindex.
 */
export function podInterfaces(netnsFd: number): ResolvedInterface[] {
  return (
    netnsLinks(netnsFd)
      .filter((link) => !link.loopback && (link.linkNetnsid >= 0 || link.kind === ""))
      // The name goes into status and logs: only the characters interface names usually have.
      .map((link) => ({ name: link.name.replace(/[^A-Za-z0-9_.@-]/g, "?"), ifindex: link.ifindex }))
      .sort((a, b) => a.ifindex - b.ifindex)
  );
}
