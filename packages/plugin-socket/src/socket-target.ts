/**
 * Socket-filter targets: the interface whose packets the filter sees.
 *
 *   [sockfilter/]<interface>
 *
 * The agent opens a raw AF_PACKET socket bound to that interface (of its own network namespace)
 * and attaches the program to it with SO_ATTACH_BPF. `*` is the pod-scoped target (with
 * `spec.selector`): each selected pod's own interfaces, a socket each, made in the pod's network
 * namespace; without a selector it is refused (it names no interface of the node).
 */
import { PluginTargetError } from "@ebpf-operator/core/sdk";

export interface SocketTarget {
  interface: string;
  /** Filled in by `resolveTarget`. */
  ifindex?: number;
  /** Pod scope: an open fd of the pod's network namespace; a socket per pod interface is made there. */
  podNetnsFd?: number;
}

/** The pod-scoped target: every interface of the pod (names inside a pod are the pod's to choose). */
export const POD_INTERFACES = "*";

export const SOCKET_TARGET_PATTERN = "^(?:sockfilter/)?(?:[A-Za-z0-9_.-]{1,15}|\\*)$";

export const socketTargetSchema = {
  type: "string",
  pattern: SOCKET_TARGET_PATTERN,
  description: "an interface of the agent's network namespace: lo, eth0, sockfilter/eth0; with spec.selector, * (each selected pod's own interfaces)",
};

export function parseSocketTarget(target: string): SocketTarget {
  const match = /^(?:sockfilter\/)?([A-Za-z0-9_.-]{1,15}|\*)$/.exec(target.trim());
  if (!match || match[1] === "." || match[1] === "..") {
    throw new PluginTargetError(
      "EOP_ERR_TARGET_INVALID",
      `socket target "${target}" is not an interface name: [sockfilter/]<interface>, e.g. sockfilter/eth0 or lo (or * with spec.selector: the pods' own interfaces)`,
    );
  }
  return { interface: match[1]! };
}
