import type { Decoder } from "@ebpf-operator/core/sdk";
import { ETHERTYPES } from "../protocols.js";
import { lookupDecimal } from "./decimal-input.js";

/**
 * `l3_proto`: an ethertype in host byte order as decimal text (`2048`) → `ipv4`, `ipv6`, `arp`,
 * `vlan`, ...; others → `unknown:0x<4 hex digits>`, as ethertypes are usually written.
 * Programs read `eth->h_proto` in network byte order: store `bpf_ntohs(eth->h_proto)`.
 */
export const l3ProtoDecoder: Decoder = {
  name: "l3_proto",
  decode: (input) => lookupDecimal(input, ETHERTYPES, (n) => (n >= 0n ? `unknown:0x${n.toString(16).padStart(4, "0")}` : `unknown:${n}`)),
};
