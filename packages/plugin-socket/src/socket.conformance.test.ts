import { describePluginConformance } from "@ebpf-operator/core/testing";
import { socketPlugin } from "./socket-plugin.js";

describePluginConformance(socketPlugin, {
  validTargets: [
    { type: "socket", target: "lo" },
    { type: "socket", target: "sockfilter/eth0" },
  ],
  invalidTargets: [
    { type: "socket", target: "eth0,eth1" },
    { type: "socket", target: "veth*" },
    { type: "socket", target: "sockfilter/" },
    { type: "socket", target: ".", schemaAccepts: true },
  ],
});
