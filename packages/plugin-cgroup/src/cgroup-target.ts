/**
 * cgroup targets: a hook and a cgroup v2 directory.
 *
 *   <hook>:<cgroup>      e.g. cgroup/skb/egress:/system.slice, sockops:kubepods.slice
 *
 * `<hook>` is a key of `CGROUP_HOOKS`. `<cgroup>` is a path in the cgroup v2 hierarchy, as
 * /proc/<pid>/cgroup shows it (`/system.slice/nginx.service`; `/` is the root cgroup, i.e. the
 * whole machine), with or without the leading slash; a path that already starts with the
 * hierarchy's mount point (`/sys/fs/cgroup/unified/...`) is taken as it is.
 */
import { PluginTargetError } from "@ebpf-operator/core/sdk";
import { CGROUP_HOOKS, type CgroupHook } from "./cgroup-hooks.js";

export interface CgroupTarget extends CgroupHook {
  hook: string;
  /** The cgroup as written (after the colon). */
  cgroup: string;
  /** Filled in by `resolveTarget`: the cgroup's directory in the mounted v2 hierarchy. */
  directory?: string;
}

const HOOK = [...CGROUP_HOOKS.keys()].map((h) => h.replaceAll("/", "\\/")).join("|");
// "/" or slash-separated segments. Each segment is a maximal run of non-slash characters, so
// the pattern cannot backtrack catastrophically (a nested `(?:seg\/?)*` can, on long paths).
const PATH = "(?:\\/|\\/?[^/\\s:]+(?:\\/[^/\\s:]+)*\\/?)";
export const CGROUP_TARGET_PATTERN = `^(?:${HOOK}):${PATH}$`;

export const cgroupTargetSchema = {
  type: "string",
  pattern: CGROUP_TARGET_PATTERN,
  description: `<hook>:<cgroup v2 path>, e.g. cgroup/skb/egress:/system.slice; hooks: ${[...CGROUP_HOOKS.keys()].join(", ")}`,
};

export function parseCgroupTarget(target: string): CgroupTarget {
  const text = target.trim();
  const colon = text.indexOf(":");
  const hookName = colon < 0 ? text : text.slice(0, colon);
  const hook = CGROUP_HOOKS.get(hookName);
  if (colon < 0 || !hook) {
    throw new PluginTargetError(
      "EOP_ERR_TARGET_INVALID",
      `cgroup target "${target}" is not <hook>:<cgroup path> (e.g. cgroup/skb/egress:/system.slice); hooks: ${[...CGROUP_HOOKS.keys()].join(", ")}`,
    );
  }
  const cgroup = text.slice(colon + 1);
  const segments = cgroup.split("/").filter((s) => s !== "");
  if (cgroup === "" || !new RegExp(`^${PATH}$`).test(cgroup) || segments.some((s) => s === "." || s === "..")) {
    throw new PluginTargetError(
      "EOP_ERR_TARGET_INVALID",
      `cgroup target "${target}": "${cgroup}" is not a cgroup path (segments without "." or "..", e.g. /system.slice or / for the root)`,
    );
  }
  return { hook: hookName, cgroup, ...hook };
}
