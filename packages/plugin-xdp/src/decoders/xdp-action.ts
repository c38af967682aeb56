import type { Decoder } from "@ebpf-operator/core/sdk";
import { XDP_ACTIONS } from "../protocols.js";
import { lookupDecimal } from "./decimal-input.js";

/**
 * `xdp_action`: an XDP verdict as decimal text (`2`) → `aborted`, `drop`, `pass`, `tx`,
 * `redirect`; other numbers → `unknown:<n>`.
 */
export const xdpActionDecoder: Decoder = {
  name: "xdp_action",
  decode: (input) => lookupDecimal(input, XDP_ACTIONS),
};
