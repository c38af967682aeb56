import { FdOwner, checkUint } from "./handle.js";
import { native } from "./native.js";

/** `ETH_P_ALL`: every protocol, incoming and outgoing. */
export const ETH_P_ALL = 0x0003;

/** Options for {@link PacketSocket.open}. */
export interface PacketSocketOptions {
  /** Ethertype to receive, in host byte order (`0x0800` for IPv4). Default {@link ETH_P_ALL}. */
  protocol?: number;
  /**
   * An open network-namespace fd (`/proc/<pid>/ns/net`): make and bind the socket in that
   * namespace, `ifindex` being one of its devices. The socket stays bound there after the fd is
   * closed. Needs CAP_SYS_ADMIN (setns) besides CAP_NET_RAW.
   */
  netnsFd?: number;
}

/**
 * A raw `AF_PACKET` socket bound to one interface, for running a `socket_filter` program on
 * that interface's packets (attach it with {@link BpfProgram.attachSocketFilter} on `fd`).
 *
 * Nothing reads the socket: the filter's side effects (map updates) are the point. A packet the
 * filter accepts (non-zero return) is queued on a minimum-size receive buffer and dropped once
 * it is full, so counting filters should return 0. With `ETH_P_ALL` the socket also sees the
 * interface's outgoing packets (`skb->pkt_type == PACKET_OUTGOING`); on `lo` every packet is
 * seen twice, once each way.
 *
 * The handle owns the socket; closing it detaches the filter. Needs CAP_NET_RAW. The interface
 * is an ifindex of the caller's network namespace.
 */
export class PacketSocket implements Disposable {
  readonly #owner: FdOwner;
  readonly ifindex: number;

  private constructor(owner: FdOwner, ifindex: number) {
    this.#owner = owner;
    this.ifindex = ifindex;
  }

  /** Opens and binds the socket (`socket(AF_PACKET, SOCK_RAW)` + `bind`); throws LibbpfError. */
  static open(ifindex: number, options: PacketSocketOptions = {}): PacketSocket {
    checkUint(ifindex, "PacketSocket.open: ifindex", 0x7fffffff);
    const protocol = options.protocol ?? ETH_P_ALL;
    checkUint(protocol, "PacketSocket.open: protocol", 0xffff);
    if (options.netnsFd !== undefined) checkUint(options.netnsFd, "PacketSocket.open: netnsFd", 0x7fffffff);
    const handle =
      options.netnsFd === undefined ? native().openPacketSocket(ifindex, protocol) : native().openPacketSocketInNetns(options.netnsFd, ifindex, protocol);
    return new PacketSocket(new FdOwner(handle, `PacketSocket ifindex ${ifindex}`), ifindex);
  }

  /** The socket's file descriptor. Throws ClosedError once closed. */
  get fd(): number {
    return this.#owner.fd;
  }

  /** Closes the socket (and so detaches its filter). Idempotent. */
  close(): void {
    this.#owner.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
