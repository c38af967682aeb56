/** `hex`: the bytes as lower-case hex digits, in memory order (`0a0b`). */
import type { CoreDecoder } from "./decoder.js";

export const hex: CoreDecoder = {
  name: "hex",
  decode(input) {
    return input.toString("hex");
  },
};
