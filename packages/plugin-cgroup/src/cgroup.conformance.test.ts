import { describePluginConformance } from "@ebpf-operator/core/testing";
import { cgroupPlugin } from "./cgroup-plugin.js";

describePluginConformance(cgroupPlugin, {
  validTargets: [
    { type: "cgroup", target: "cgroup/skb/egress:/system.slice" },
    { type: "cgroup", target: "sockops:kubepods.slice/pod1" },
    { type: "cgroup", target: "cgroup/connect4:/" },
  ],
  invalidTargets: [
    { type: "cgroup", target: "/system.slice" },
    { type: "cgroup", target: "cgroup/skb/sideways:/system.slice" },
    { type: "cgroup", target: "cgroup/skb/egress:" },
    { type: "cgroup", target: "cgroup/skb/egress:/system.slice//nginx" },
    // ".." is a valid path segment character-wise; parseTarget refuses leaving the hierarchy.
    { type: "cgroup", target: "cgroup/skb/egress:/system.slice/../..", schemaAccepts: true },
  ],
});
