/**
 * XDP: programs that see every packet a network interface receives, before the kernel's network
 * stack. One BPF link per interface; the host pins the links, so the program stays attached
 * across an agent restart, and detaches it through the links when the resource goes.
 *
 * Interfaces are those of the agent's own network namespace (the attach is by ifindex, which is
 * per namespace). Pod scope (`spec.selector`, target `*`): the program attaches inside each
 * selected pod's network namespace, to the pod's own interfaces (`podInterfaces`), from a thread
 * that enters the namespace; it then sees the packets the pod receives, and its redirects can
 * reach only the pod's devices (docs/architecture.md says why not the host side of the veth).
 * What the host hands `attach` there is its gate for that pod (core's loader/pod-net-gate.ts),
 * which puts the pod's cgroup id in the packet's metadata and tail-calls the program.
 */
import { PluginTargetError, definePlugin } from "@ebpf-operator/core/sdk";
import { probeProgramType, xdpProgramIds, type BpfLink, type BpfProgram } from "@ebpf-operator/libbpf";
import { ipProtoDecoder } from "./decoders/ip-proto.js";
import { l3ProtoDecoder } from "./decoders/l3-proto.js";
import { xdpActionDecoder } from "./decoders/xdp-action.js";
import { listInterfaces, podInterfaces, selectInterfaces } from "./net-interfaces.js";
import { POD_INTERFACES, parseXdpTarget, xdpTargetSchema, type ResolvedInterface, type XdpAttachMode, type XdpTarget } from "./xdp-target.js";

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
    const netnsFd = target.podNetnsFd;
    // Globs match what exists now: resolve again if the host did not (or the target is old).
    const interfaces = netnsFd !== undefined ? podInterfaces(netnsFd) : (target.resolved ?? selectInterfaces(target.interfaces, await listInterfaces()));
    if (interfaces.length === 0) throw new Error("the pod has no interface of its own (none connects its network namespace to the outside)");
    const links: { link: BpfLink; description: string }[] = [];
    try {
      for (const iface of interfaces) links.push(attachOne(program, iface, target.mode, netnsFd));
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

  // After a restart: the pinned links must be on exactly the interfaces an attach would use now
  // (the spec's, or the pod's own), each the device of that index in that namespace (ifindexes
  // repeat across namespaces; the program id on the device tells which one the link is on).
  async adopted({ links, target }) {
    const netnsFd = target.podNetnsFd;
    const wanted = netnsFd !== undefined ? podInterfaces(netnsFd) : (target.resolved ?? selectInterfaces(target.interfaces, await listInterfaces()));
    const on = links.map((link) => link.info());
    const ifindexes = new Set(on.map((info) => info.ifindex ?? 0));
    if (on.some((info) => info.type !== "xdp" || !info.ifindex) || ifindexes.size !== on.length) return false;
    if (wanted.length !== ifindexes.size || !wanted.every((iface) => ifindexes.has(iface.ifindex))) return false;
    return on.every((info) => xdpProgramIds(info.ifindex!, netnsFd).includes(info.programId));
  },

  podScope: {
    network: true,
    check(_type, target) {
      if (target.interfaces.length !== 1 || target.interfaces[0] !== POD_INTERFACES) {
        throw new PluginTargetError(
          "EOP_ERR_TARGET_INVALID",
          `xdp target "${target.interfaces.join(",")}": with spec.selector the program attaches to each selected pod's own interfaces, in the pod's network namespace, so the target must be "*" (with an optional ?mode=), e.g. xdp/*?mode=generic; interface names inside a pod are the pod's to choose and are never matched`,
        );
      }
    },
    target: (_type, target, pod) => ({ interfaces: target.interfaces, mode: target.mode, podNetnsFd: pod.netns!.fd }),
  },

  // ifname, inet_ip, port are core decoders; these are the XDP-specific names.
  decoders: [xdpActionDecoder, l3ProtoDecoder, ipProtoDecoder],
});

function attachOne(program: BpfProgram, iface: ResolvedInterface, mode: XdpAttachMode, netnsFd?: number): { link: BpfLink; description: string } {
  const where = netnsFd !== undefined ? " in the pod's network namespace" : "";
  const describe = (used: string) => `xdp ${iface.name} (ifindex ${iface.ifindex}${where}, ${used} mode)`;
  const options = (m: Exclude<XdpAttachMode, "auto">) => (netnsFd !== undefined ? { mode: m, netnsFd } : { mode: m });
  if (mode !== "auto") return { link: program.attachXdp(iface.ifindex, options(mode)), description: describe(mode) };
  try {
    return { link: program.attachXdp(iface.ifindex, options("native")), description: describe("native") };
  } catch (nativeError) {
    // Drivers without XDP support refuse native mode; generic mode works on every interface.
    try {
      return { link: program.attachXdp(iface.ifindex, options("generic")), description: describe("generic") };
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
