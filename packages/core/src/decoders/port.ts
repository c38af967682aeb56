/** `port`: a 2-byte port in network byte order (as in `struct sockaddr_in`) as decimal text. */
import type { CoreDecoder } from "./decoder.js";
import { unknown } from "./input.js";

export const port: CoreDecoder = {
  name: "port",
  decode(input) {
    return input.length === 2 ? String(input.readUInt16BE(0)) : unknown(input);
  },
};
