import { describePluginConformance } from "@ebpf-operator/core/testing";
import { uprobePlugin } from "./uprobe-plugin.js";

describePluginConformance(uprobePlugin, {
  validTargets: [
    { type: "uprobe", target: "/usr/bin/bash:readline" },
    { type: "uprobe", target: "libc.so.6:malloc+0x10?pid=1" },
    { type: "uprobe", target: "/opt/app:0x1a2b" },
    { type: "uretprobe", target: "uretprobe//lib/x86_64-linux-gnu/libc.so.6:malloc" },
  ],
  invalidTargets: [
    { type: "uprobe", target: "/usr/bin/bash" },
    { type: "uprobe", target: "bash:readline?pid=-1" },
    { type: "uprobe", target: "relative/bash:readline" },
    // One schema serves both types: only parseTarget knows the prefix must match the type,
    // that a return probe takes no offset, and that offset 0 alone means nothing.
    { type: "uprobe", target: "uretprobe/bash:readline", schemaAccepts: true },
    { type: "uretprobe", target: "bash:readline+4", schemaAccepts: true },
    { type: "uprobe", target: "bash:0", schemaAccepts: true },
  ],
});
