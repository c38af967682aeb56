/**
 * XDP: programs that see every packet a network interface receives, before the kernel's network
 * stack. One BPF link per interface; the host pins the links, so the program stays attached
 * across an agent restart, and detaches it through the links when the resource goes.
 *
 * Interfaces are those of the agent's own network namespace (the attach is by ifindex, which is
 * per namespace): to watch a pod's interface, attach to its host-side veth.
 */
import { definePlugin } from "@ebpf-operator/core/sdk";
import { probeProgramType, type BpfLink, type BpfProgram } from "@ebpf-operator/libbpf";
import { ipProtoDecoder } from "./decoders/ip-proto.js";
import { l3ProtoDecoder } from "./decoders/l3-proto.js";
import { xdpActionDecoder } from "./decoders/xdp-action.js";
import { listInterfaces, selectInterfaces } from "./net-interfaces.js";
import { parseXdpTarget, xdpTargetSchema, type ResolvedInterface, type XdpAttachMode, type XdpTarget } from "./xdp-target.js";

export const xdpPlugin = definePlugin<XdpTarget>({
  meta: {
    name: "@ebpf-operator/plugin-xdp",
    version: "0.1.0",
    apiVersion: 1,
    programTypes: ["xdp"],
    description: "Attach XDP programs to network interfaces (native mode, falling back to generic).",
  },
  targetSchema: xdpTargetSchema,

  parseTarget: (_type, target) => parseXdpTarget(target),

  async detectSupport() {
    if (!probeProgramType("xdp")) {
      return { supported: false, reason: "the kernel cannot load BPF_PROG_TYPE_XDP programs (CONFIG_BPF_SYSCALL or CONFIG_NET is off?)" };
    }
    return { supported: true };
  },

  async resolveTarget(_type, target) {
    return { ...target, resolved: selectInterfaces(target.interfaces, await listInterfaces()) };
  },

  prepare({ object, programName }) {
    object.setProgramType(programName, "xdp");
  },

  async attach({ program, target }) {
    // Globs match what exists now: resolve again if the host did not (or the target is old).
    const interfaces = target.resolved ?? selectInterfaces(target.interfaces, await listInterfaces());
    const links: { link: BpfLink; description: string }[] = [];
    try {
      for (const iface of interfaces) links.push(attachOne(program, iface, target.mode));
    } catch (error) {
      for (const { link } of links) {
        try {
          link.detach();
        } finally {
          link.close();
        }
      }
      throw error;
    }
    return links.map(({ link, description }) => ({ kind: "link" as const, link, description }));
  },

  // ifname, inet_ip, port are core decoders; these are the XDP-specific names.
  decoders: [xdpActionDecoder, l3ProtoDecoder, ipProtoDecoder],
});

function attachOne(program: BpfProgram, iface: ResolvedInterface, mode: XdpAttachMode): { link: BpfLink; description: string } {
  const describe = (used: string) => `xdp ${iface.name} (ifindex ${iface.ifindex}, ${used} mode)`;
  if (mode !== "auto") return { link: program.attachXdp(iface.ifindex, { mode }), description: describe(mode) };
  try {
    return { link: program.attachXdp(iface.ifindex, { mode: "native" }), description: describe("native") };
  } catch (nativeError) {
    // Drivers without XDP support refuse native mode; generic mode works on every interface.
    try {
      return { link: program.attachXdp(iface.ifindex, { mode: "generic" }), description: describe("generic") };
    } catch (genericError) {
      throw new Error(
        `attach xdp to ${iface.name} (ifindex ${iface.ifindex}): native mode failed (${(nativeError as Error).message}), generic mode failed too`,
        {
          cause: genericError,
        },
      );
    }
  }
}
