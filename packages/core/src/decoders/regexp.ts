/**
 * `regexp`: keeps the row only when the input text matches `pattern` (JavaScript syntax,
 * unanchored unless written with ^/$); a row that does not match is dropped (`SKIP`). The text
 * passes through unchanged.
 */
import { SKIP } from "../plugin/sdk.js";
import { perOptions, type CoreDecoder } from "./decoder.js";

const compiled = perOptions((options) => (typeof options.pattern === "string" ? safeRegExp(options.pattern) : undefined));

function safeRegExp(pattern: string): RegExp | undefined {
  try {
    return new RegExp(pattern, "u");
  } catch {
    return undefined;
  }
}

export const regexp: CoreDecoder = {
  name: "regexp",
  decode(input, options) {
    const text = input.toString("utf8");
    const re = compiled(options);
    return re?.test(text) ? text : SKIP;
  },
  checkOptions(options) {
    if (typeof options.pattern !== "string") return `needs "pattern", a regular expression`;
    try {
      new RegExp(options.pattern, "u");
    } catch (error) {
      return `pattern is not a valid regular expression: ${(error as Error).message}`;
    }
    return undefined;
  },
};
