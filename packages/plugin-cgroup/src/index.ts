export { cgroupPlugin as default, cgroupPlugin } from "./cgroup-plugin.js";
export { parseCgroupTarget, type CgroupTarget } from "./cgroup-target.js";
export { CGROUP_HOOKS, type CgroupHook } from "./cgroup-hooks.js";
export { parseCgroup2Mount, findCgroup2Mount, findCgroup2MountSync, cgroupDirectory, cgroupPathOf } from "./cgroup-mount.js";
