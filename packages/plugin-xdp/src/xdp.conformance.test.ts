import { describePluginConformance } from "@ebpf-operator/core/testing";
import { xdpPlugin } from "./xdp-plugin.js";

describePluginConformance(xdpPlugin, {
  validTargets: [
    { type: "xdp", target: "xdp/lo" },
    { type: "xdp", target: "eth0,eth1" },
    { type: "xdp", target: "veth*?mode=generic" },
  ],
  invalidTargets: [
    { type: "xdp", target: "eth0?mode=turbo" },
    { type: "xdp", target: "an-interface-name-too-long" },
    { type: "xdp", target: "eth0,,eth1" },
    // The character class lets dots through; only parseTarget refuses the directory names.
    { type: "xdp", target: "..", schemaAccepts: true },
  ],
});
