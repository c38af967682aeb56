import { describePluginConformance } from "@ebpf-operator/core/testing";
import { rawTracepointPlugin } from "./raw-tracepoint-plugin.js";

describePluginConformance(rawTracepointPlugin, {
  validTargets: [
    { type: "raw_tp", target: "sys_enter" },
    { type: "raw_tp", target: "raw_tp/sched_switch" },
    { type: "tp_btf", target: "sched_switch" },
    { type: "tp_btf", target: "tp_btf/kfree_skb" },
  ],
  invalidTargets: [
    { type: "raw_tp", target: "sched/sched_switch" },
    { type: "raw_tp", target: "sys enter" },
    { type: "tp_btf", target: "syscalls:sys_enter_execve" },
    // One schema serves both types: only parseTarget knows which prefix belongs to which.
    { type: "tp_btf", target: "raw_tp/sched_switch", schemaAccepts: true },
    { type: "raw_tp", target: "tp_btf/sched_switch", schemaAccepts: true },
  ],
});
