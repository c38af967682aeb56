/**
 * Socket filters: a `socket_filter` program run on every packet of one interface, in and out.
 * The agent opens a raw AF_PACKET socket bound to the interface and attaches the program with
 * SO_ATTACH_BPF. A socket cannot be pinned, so the attachment is a handle: closing the socket
 * detaches the filter, and a restarted agent attaches the pinned program to a new socket.
 *
 * The packet socket only exists to run the filter; nothing reads it. Return 0 from the program
 * (the map updates are the point), and skip `PACKET_OUTGOING` packets to count one direction.
 *
 * Pod scope (`spec.selector`, target `*`): one socket per selected pod's own interface
 * (`podInterfaces`), made and bound inside the pod's network namespace, so the filter sees that
 * pod's packets, both ways, and nothing of the node's or another pod's interfaces. Sockets
 * cannot be pinned: a restarted agent attaches each pod again (the maps, pinned, keep counting).
 * The filter on each socket is the host's gate for that pod (core's loader/pod-net-gate.ts),
 * which writes the pod's cgroup id into skb->cb and tail-calls the program.
 */
import { PluginTargetError, definePlugin, type Attachment } from "@ebpf-operator/core/sdk";
import { PacketSocket, probeProgramType, type BpfProgram } from "@ebpf-operator/libbpf";
import { listInterfaces, podInterfaces, selectInterfaces } from "@ebpf-operator/plugin-xdp";
import { POD_INTERFACES, parseSocketTarget, socketTargetSchema, type SocketTarget } from "./socket-target.js";

export const socketPlugin = definePlugin<SocketTarget>({
  meta: {
    name: "@ebpf-operator/plugin-socket",
    version: "0.1.0",
    apiVersion: 1,
    programTypes: ["socket"],
    description: "Run socket filters on an interface's packets through a raw AF_PACKET socket.",
  },
  targetSchema: socketTargetSchema,

  parseTarget: (_type, target) => parseSocketTarget(target),

  async detectSupport() {
    if (!probeProgramType("socket_filter")) {
      return { supported: false, reason: "the kernel cannot load BPF_PROG_TYPE_SOCKET_FILTER programs" };
    }
    return { supported: true };
  },

  async resolveTarget(_type, target) {
    if (target.interface === POD_INTERFACES) {
      throw new PluginTargetError(
        "EOP_ERR_TARGET_INVALID",
        `socket target "*" means each selected pod's own interfaces: it needs spec.selector (without one, name an interface of the node, e.g. sockfilter/eth0)`,
      );
    }
    return { ...target, ifindex: await ifindexOf(target) };
  },

  prepare({ object, programName }) {
    object.setProgramType(programName, "socket_filter");
  },

  async attach({ program, target }) {
    const netnsFd = target.podNetnsFd;
    if (netnsFd !== undefined) {
      const interfaces = podInterfaces(netnsFd);
      if (interfaces.length === 0) throw new Error("the pod has no interface of its own (none connects its network namespace to the outside)");
      const made: Attachment[] = [];
      try {
        for (const iface of interfaces) made.push(filterOn(program, iface.ifindex, `${iface.name} in the pod's network namespace`, netnsFd));
      } catch (error) {
        for (const attachment of made) if (attachment.kind === "handle") attachment.close();
        throw error;
      }
      return made;
    }
    const ifindex = target.ifindex ?? (await ifindexOf(target));
    return [filterOn(program, ifindex, target.interface)];
  },

  podScope: {
    network: true,
    check(_type, target) {
      if (target.interface !== POD_INTERFACES) {
        throw new PluginTargetError(
          "EOP_ERR_TARGET_INVALID",
          `socket target "${target.interface}": with spec.selector the filter runs on each selected pod's own interfaces, in the pod's network namespace, so the target must be "*" (sockfilter/*); interface names inside a pod are the pod's to choose and are never matched`,
        );
      }
    },
    target: (_type, target, pod) => ({ interface: target.interface, podNetnsFd: pod.netns!.fd }),
  },

  // No decoders of its own: inet_ip and port are core's, ip_proto and l3_proto plugin-xdp's.
});

async function ifindexOf(target: SocketTarget): Promise<number> {
  return selectInterfaces([target.interface], await listInterfaces(), "socket target")[0]!.ifindex;
}

/** A packet socket bound to `ifindex` (in the namespace of `netnsFd`, if given) running the filter. */
function filterOn(program: BpfProgram, ifindex: number, name: string, netnsFd?: number): Attachment {
  const socket = PacketSocket.open(ifindex, netnsFd !== undefined ? { netnsFd } : {});
  try {
    program.attachSocketFilter(socket.fd);
  } catch (error) {
    socket.close();
    throw error;
  }
  // The closure keeps the socket reachable: garbage collection would close it (and detach).
  return { kind: "handle", description: `socket filter on ${name} (ifindex ${ifindex}, AF_PACKET fd ${socket.fd})`, close: () => socket.close() };
}
