import { describePluginConformance } from "@ebpf-operator/core/testing";
import { kprobePlugin } from "./kprobe-plugin.js";

describePluginConformance(kprobePlugin, {
  validTargets: [
    { type: "kprobe", target: "sys_execve" },
    { type: "kprobe", target: "tcp_v4_connect+0x10" },
    { type: "kretprobe", target: "kretprobe/do_sys_openat2" },
  ],
  invalidTargets: [
    { type: "kprobe", target: "sys execve" },
    { type: "kprobe", target: "vfs_read+0xZZ" },
    // One schema serves both types: only parseTarget knows a return probe takes no offset.
    { type: "kretprobe", target: "vfs_read+4", schemaAccepts: true },
    { type: "kretprobe", target: "1abc" },
  ],
});
