import { describePluginConformance } from "@ebpf-operator/core/testing";
import { tracepointPlugin } from "./tracepoint-plugin.js";

describePluginConformance(tracepointPlugin, {
  validTargets: [
    { type: "tracepoint", target: "syscalls/sys_enter_execve" },
    { type: "tracepoint", target: "sched:sched_switch" },
    { type: "tracepoint", target: "tp/raw_syscalls/sys_enter" },
  ],
  invalidTargets: [
    { type: "tracepoint", target: "sys_enter_execve" },
    { type: "tracepoint", target: "syscalls/sys enter" },
    { type: "tracepoint", target: "a/b/c" },
  ],
});
