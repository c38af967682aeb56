/**
 * The network interfaces the agent sees, read from sysfs (`/sys/class/net/<name>/ifindex`).
 * sysfs shows the interfaces of the network namespace it was mounted in, which for the agent is
 * its own namespace: that is also where XDP attaches, by ifindex.
 */
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { PluginTargetError, closestNames } from "@ebpf-operator/core/sdk";
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
