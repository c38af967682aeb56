/**
 * `uint`: an unsigned integer of 1-8 bytes as decimal text. Host byte order unless
 * `endianness: big` (network order: ports, addresses) or `little`.
 */
import type { CoreDecoder, DecoderOptions } from "./decoder.js";
import { HOST_LITTLE_ENDIAN, readUint, unknown } from "./input.js";

export function littleEndianOption(options: DecoderOptions): boolean {
  if (options.endianness === "big") return false;
  if (options.endianness === "little") return true;
  return HOST_LITTLE_ENDIAN;
}

export function checkEndianness(options: DecoderOptions): string | undefined {
  const e = options.endianness;
  if (e === undefined || e === "host" || e === "little" || e === "big") return undefined;
  return `endianness must be "host", "little" or "big", not ${JSON.stringify(e)}`;
}

export const uint: CoreDecoder = {
  name: "uint",
  decode(input, options) {
    const value = readUint(input, littleEndianOption(options));
    return value === undefined ? unknown(input) : value.toString();
  },
  checkOptions: checkEndianness,
};
