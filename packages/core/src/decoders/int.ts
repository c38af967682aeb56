/** `int`: a two's-complement signed integer of 1-8 bytes as decimal text (`-2`). */
import type { CoreDecoder } from "./decoder.js";
import { readUint, unknown } from "./input.js";
import { checkEndianness, littleEndianOption } from "./uint.js";

export const int: CoreDecoder = {
  name: "int",
  decode(input, options) {
    const value = readUint(input, littleEndianOption(options));
    if (value === undefined) return unknown(input);
    return BigInt.asIntN(input.length * 8, value).toString();
  },
  checkOptions: checkEndianness,
};
