/**
 * Number → name tables for network protocols, kept in one place: the XDP decoders use them and
 * other plugins import them from `@ebpf-operator/plugin-xdp` rather than keeping copies.
 * Names are lower-case, as used in label values.
 */

/** `enum xdp_action` (include/uapi/linux/bpf.h). */
export const XDP_ACTIONS: ReadonlyMap<number, string> = new Map([
  [0, "aborted"],
  [1, "drop"],
  [2, "pass"],
  [3, "tx"],
  [4, "redirect"],
]);

/** Ethertypes (`ETH_P_*`, include/uapi/linux/if_ether.h), in host byte order. */
export const ETHERTYPES: ReadonlyMap<number, string> = new Map([
  [0x0800, "ipv4"],
  [0x0806, "arp"],
  [0x8035, "rarp"],
  [0x8100, "vlan"],
  [0x86dd, "ipv6"],
  [0x8808, "pause"],
  [0x8847, "mpls"],
  [0x8848, "mpls_mc"],
  [0x8863, "pppoe_discovery"],
  [0x8864, "pppoe_session"],
  [0x888e, "eapol"],
  [0x88a8, "qinq"],
  [0x88cc, "lldp"],
  [0x88e5, "macsec"],
  [0x88f7, "ptp"],
  [0x8906, "fcoe"],
  [0x9000, "loopback"],
]);

/** IP protocol numbers (IANA; `IPPROTO_*` in include/uapi/linux/in.h and in6.h). */
export const IP_PROTOCOLS: ReadonlyMap<number, string> = new Map([
  [0, "hopopt"],
  [1, "icmp"],
  [2, "igmp"],
  [4, "ipip"],
  [6, "tcp"],
  [8, "egp"],
  [12, "pup"],
  [17, "udp"],
  [22, "idp"],
  [29, "tp"],
  [33, "dccp"],
  [41, "ipv6"],
  [43, "ipv6_route"],
  [44, "ipv6_frag"],
  [46, "rsvp"],
  [47, "gre"],
  [50, "esp"],
  [51, "ah"],
  [58, "icmpv6"],
  [59, "ipv6_nonxt"],
  [60, "ipv6_opts"],
  [89, "ospf"],
  [92, "mtp"],
  [94, "beetph"],
  [98, "encap"],
  [103, "pim"],
  [108, "comp"],
  [112, "vrrp"],
  [115, "l2tp"],
  [132, "sctp"],
  [135, "mh"],
  [136, "udplite"],
  [137, "mpls"],
  [143, "ethernet"],
  [255, "raw"],
  [262, "mptcp"],
]);
