export { xdpPlugin as default, xdpPlugin } from "./xdp-plugin.js";
export { parseXdpTarget, isGlob, matchesGlob, POD_INTERFACES, XDP_MODES, type XdpTarget, type XdpAttachMode, type ResolvedInterface } from "./xdp-target.js";
export { listInterfaces, podInterfaces, selectInterfaces } from "./net-interfaces.js";
export { XDP_ACTIONS, ETHERTYPES, IP_PROTOCOLS } from "./protocols.js";
export { xdpActionDecoder } from "./decoders/xdp-action.js";
export { ipProtoDecoder } from "./decoders/ip-proto.js";
export { l3ProtoDecoder } from "./decoders/l3-proto.js";
export { readDecimal, lookupDecimal } from "./decoders/decimal-input.js";
