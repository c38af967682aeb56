/**
 * `regexp`: keeps the row only when the input text matches `pattern` (RE2 syntax, unanchored
 * unless written with ^/$); a row that does not match is dropped (`SKIP`). The text passes
 * through unchanged.
 *
 * The pattern and the text are both a tenant's (the text comes from map keys the tenant's program
 * writes), and the agent runs the match on every row of every scrape. JavaScript's RegExp
 * backtracks: `(a+)+$` against a few dozen `a`s followed by `b` takes seconds to hours, on the
 * agent's one event loop, for every tenant at once. RE2JS (a port of RE2) matches in time linear
 * in the text, with no backreferences or lookaround to make that impossible; the program size is
 * capped too, since the match costs text length × program size.
 */
import { RE2JS } from "re2js";
import { SKIP } from "../plugin/sdk.js";
import { perOptions, type CoreDecoder } from "./decoder.js";

/** Largest compiled program (RE2 instructions) a pattern may have. */
export const MAX_REGEXP_PROGRAM_SIZE = 2000;

type Compiled = { re: RE2JS } | { error: string };

const compiled = perOptions((options): Compiled => (typeof options.pattern === "string" ? compile(options.pattern) : { error: `needs "pattern"` }));

function compile(pattern: string): Compiled {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (error) {
    return { error: `pattern is not a valid RE2 regular expression: ${(error as Error).message}` };
  }
  const size = re.programSize();
  if (size > MAX_REGEXP_PROGRAM_SIZE) return { error: `pattern compiles to ${size} instructions; at most ${MAX_REGEXP_PROGRAM_SIZE} are allowed` };
  return { re };
}

export const regexp: CoreDecoder = {
  name: "regexp",
  decode(input, options) {
    const text = input.toString("utf8");
    const c = compiled(options);
    return "re" in c && c.re.test(text) ? text : SKIP;
  },
  checkOptions(options) {
    if (typeof options.pattern !== "string") return `needs "pattern", a regular expression`;
    const c = compiled(options);
    return "error" in c ? c.error : undefined;
  },
};
