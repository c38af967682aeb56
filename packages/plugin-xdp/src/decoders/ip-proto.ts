import type { Decoder } from "@ebpf-operator/core/sdk";
import { IP_PROTOCOLS } from "../protocols.js";
import { lookupDecimal } from "./decimal-input.js";

/**
 * `ip_proto`: an IP protocol number (IPv4 `protocol`, IPv6 `nexthdr`) as decimal text (`17`) →
 * `udp`, `tcp`, `icmp`, `icmpv6`, ...; numbers without a name → `unknown:<n>`.
 */
export const ipProtoDecoder: Decoder = {
  name: "ip_proto",
  decode: (input) => lookupDecimal(input, IP_PROTOCOLS),
};
