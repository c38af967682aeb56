/**
 * Socket filters: a `socket_filter` program run on every packet of one interface, in and out.
 * The agent opens a raw AF_PACKET socket bound to the interface and attaches the program with
 * SO_ATTACH_BPF. A socket cannot be pinned, so the attachment is a handle: closing the socket
 * detaches the filter, and a restarted agent attaches the pinned program to a new socket.
 *
 * The packet socket only exists to run the filter; nothing reads it. Return 0 from the program
 * (the map updates are the point), and skip `PACKET_OUTGOING` packets to count one direction.
 */
import { definePlugin } from "@ebpf-operator/core/sdk";
import { PacketSocket, probeProgramType } from "@ebpf-operator/libbpf";
import { listInterfaces, selectInterfaces } from "@ebpf-operator/plugin-xdp";
import { parseSocketTarget, socketTargetSchema, type SocketTarget } from "./socket-target.js";

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
    return { ...target, ifindex: await ifindexOf(target) };
  },

  prepare({ object, programName }) {
    object.setProgramType(programName, "socket_filter");
  },

  async attach({ program, target }) {
    const ifindex = target.ifindex ?? (await ifindexOf(target));
    const socket = PacketSocket.open(ifindex);
    try {
      program.attachSocketFilter(socket.fd);
    } catch (error) {
      socket.close();
      throw error;
    }
    // The closure keeps the socket reachable: garbage collection would close it (and detach).
    return [
      { kind: "handle", description: `socket filter on ${target.interface} (ifindex ${ifindex}, AF_PACKET fd ${socket.fd})`, close: () => socket.close() },
    ];
  },

  // No decoders of its own: inet_ip and port are core's, ip_proto and l3_proto plugin-xdp's.
});

async function ifindexOf(target: SocketTarget): Promise<number> {
  return selectInterfaces([target.interface], await listInterfaces(), "socket target")[0]!.ifindex;
}
