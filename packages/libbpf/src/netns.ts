import { checkUint } from "./handle.js";
import { native } from "./native.js";
import type { NetnsLink } from "./types.js";

/**
 * The network devices of the namespace `netnsFd` names (an open `/proc/<pid>/ns/net`), as the
 * kernel lists them there (RTM_GETLINK from a thread that enters the namespace; sysfs would show
 * the caller's namespace instead). Needs CAP_SYS_ADMIN (setns). Throws LibbpfError.
 */
export function netnsLinks(netnsFd: number): NetnsLink[] {
  checkUint(netnsFd, "netnsLinks: netnsFd", 0x7fffffff);
  return native().netnsLinks(netnsFd);
}

/**
 * The ids of the XDP programs attached to device `ifindex` (native, generic and offloaded modes;
 * empty when it has none or no such device exists), asked over netlink in the namespace
 * `netnsFd` names (needs CAP_SYS_ADMIN, as `netnsLinks`), or in the caller's own without it.
 * With an XDP link's `info()`, tells which namespace's device the link is on: ifindexes repeat
 * across namespaces, program ids do not. Throws LibbpfError.
 */
export function xdpProgramIds(ifindex: number, netnsFd?: number): number[] {
  checkUint(ifindex, "xdpProgramIds: ifindex", 0x7fffffff);
  if (netnsFd !== undefined) checkUint(netnsFd, "xdpProgramIds: netnsFd", 0x7fffffff);
  return native().xdpProgramIds(ifindex, netnsFd ?? -1);
}
