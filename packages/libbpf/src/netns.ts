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
