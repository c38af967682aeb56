/**
 * `string`: C string bytes (a `char comm[16]`, say) up to the first NUL. Invalid UTF-8 becomes
 * U+FFFD, so the label value is always valid UTF-8 as Prometheus requires.
 */
import type { CoreDecoder } from "./decoder.js";

export const string: CoreDecoder = {
  name: "string",
  decode(input) {
    const end = input.indexOf(0);
    return input.toString("utf8", 0, end === -1 ? input.length : end);
  },
};
