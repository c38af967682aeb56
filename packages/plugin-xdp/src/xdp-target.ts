/**
 * XDP targets: one or more interfaces of the agent's network namespace, with an optional mode.
 *
 *   [xdp/]<interface>[,<interface>...][?mode=auto|native|generic]
 *
 * An interface is a name (`eth0`) or a glob with `*` (`veth*`), matched against the interfaces
 * that exist when the resource is loaded. In pod scope (`spec.selector`) the target is `*`: each
 * selected pod's own interfaces, in its network namespace (see `podInterfaces`). The mode lives in the target string because the flat
 * spec has no other field for it; `auto` (the default) tries the driver's native XDP and falls
 * back to generic (skb) mode when the driver has none.
 */
import { PluginTargetError } from "@ebpf-operator/core/sdk";

/** How to attach: `auto` = native, falling back to generic; the others are strict. */
export type XdpAttachMode = "auto" | "native" | "generic";

export interface XdpTarget {
  /** Interface names and `*` globs, in the order written, without duplicates. */
  interfaces: string[];
  mode: XdpAttachMode;
  /** Filled in by `resolveTarget`: the interfaces the names and globs matched, by ifindex. */
  resolved?: ResolvedInterface[];
  /** Pod scope: an open fd of the pod's network namespace; its own interfaces are attached there. */
  podNetnsFd?: number;
}

/** The one pod-scoped interface list: every interface of the pod (names are the pod's to choose, so none is named). */
export const POD_INTERFACES = "*";

export interface ResolvedInterface {
  name: string;
  ifindex: number;
}

export const XDP_MODES: readonly XdpAttachMode[] = ["auto", "native", "generic"];

/** An interface name (IFNAMSIZ - 1 = 15 characters) or a glob of one, `*` matching any run. */
const NAME = "[A-Za-z0-9_.*-]{1,15}";
export const XDP_TARGET_PATTERN = `^(?:xdp/)?${NAME}(?:,${NAME})*(?:\\?mode=(?:auto|native|generic))?$`;

export const xdpTargetSchema = {
  type: "string",
  pattern: XDP_TARGET_PATTERN,
  description: "interfaces of the agent's network namespace: eth0, xdp/eth0, eth0,eth1, veth* (glob), with an optional ?mode=auto|native|generic",
};

const SYNTAX = "[xdp/]<interface>[,<interface>...][?mode=auto|native|generic], e.g. xdp/eth0, veth*?mode=generic";

export function parseXdpTarget(target: string): XdpTarget {
  const match = new RegExp(XDP_TARGET_PATTERN).exec(target.trim());
  if (!match) throw invalid(target, "is not");
  const [names, query] = target
    .trim()
    .replace(/^xdp\//, "")
    .split("?");
  const interfaces = [...new Set(names!.split(","))];
  // "." and ".." are the only names the kernel refuses that the character class lets through.
  if (interfaces.some((name) => name === "." || name === "..")) throw invalid(target, "names a directory, not");
  const mode = (query?.slice("mode=".length) ?? "auto") as XdpAttachMode;
  return { interfaces, mode };
}

/** Whether `name` is a glob (has `*`) rather than a literal interface name. */
export function isGlob(name: string): boolean {
  return name.includes("*");
}

/** Matches an interface name against a `*` glob; everything else is literal. */
export function matchesGlob(glob: string, name: string): boolean {
  const source = glob
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${source}$`).test(name);
}

function invalid(target: string, verb: string): PluginTargetError {
  return new PluginTargetError("EOP_ERR_TARGET_INVALID", `xdp target "${target}" ${verb} a list of interfaces: ${SYNTAX}`);
}
