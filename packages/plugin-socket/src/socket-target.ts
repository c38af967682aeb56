/**
 * Socket-filter targets: the interface whose packets the filter sees.
 *
 *   [sockfilter/]<interface>
 *
 * The agent opens a raw AF_PACKET socket bound to that interface (of its own network namespace)
 * and attaches the program to it with SO_ATTACH_BPF.
 */
import { PluginTargetError } from "@ebpf-operator/core/sdk";

export interface SocketTarget {
  interface: string;
  /** Filled in by `resolveTarget`. */
  ifindex?: number;
}

export const SOCKET_TARGET_PATTERN = "^(?:sockfilter/)?[A-Za-z0-9_.-]{1,15}$";

export const socketTargetSchema = {
  type: "string",
  pattern: SOCKET_TARGET_PATTERN,
  description: "an interface of the agent's network namespace: lo, eth0, sockfilter/eth0",
};

export function parseSocketTarget(target: string): SocketTarget {
  const match = /^(?:sockfilter\/)?([A-Za-z0-9_.-]{1,15})$/.exec(target.trim());
  if (!match || match[1] === "." || match[1] === "..") {
    throw new PluginTargetError(
      "EOP_ERR_TARGET_INVALID",
      `socket target "${target}" is not an interface name: [sockfilter/]<interface>, e.g. sockfilter/eth0 or lo`,
    );
  }
  return { interface: match[1]! };
}
