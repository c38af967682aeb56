import { describePluginConformance } from "@ebpf-operator/core/testing";
import { fentryPlugin } from "./fentry-plugin.js";

describePluginConformance(fentryPlugin, {
  validTargets: [
    { type: "fentry", target: "do_unlinkat" },
    { type: "fentry", target: "fentry/sys_openat" },
    { type: "fexit", target: "fexit/do_sys_openat2" },
  ],
  invalidTargets: [
    { type: "fentry", target: "do_unlinkat+0x10" },
    { type: "fexit", target: "vfs read" },
    // One schema serves both types: only parseTarget knows which prefix belongs to which.
    { type: "fentry", target: "fexit/do_unlinkat", schemaAccepts: true },
    { type: "fexit", target: "fentry/do_unlinkat", schemaAccepts: true },
  ],
});
