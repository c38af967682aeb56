/**
 * `majorminor`: a kernel `dev_t` (4 or 8 bytes, host order) as `major:minor`. Inside the kernel
 * dev_t keeps the minor in the low 20 bits (MINORBITS), unlike the user-space encoding.
 */
import type { CoreDecoder } from "./decoder.js";
import { readUint, unknown } from "./input.js";

const MINOR_BITS = 20n;
const MINOR_MASK = (1n << MINOR_BITS) - 1n;

export const majorminor: CoreDecoder = {
  name: "majorminor",
  decode(input) {
    if (input.length !== 4 && input.length !== 8) return unknown(input);
    const dev = readUint(input)!;
    return `${dev >> MINOR_BITS}:${dev & MINOR_MASK}`;
  },
};
