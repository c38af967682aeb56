import { describe, expect, it } from "vitest";
import { SKIP } from "../plugin/sdk.js";
import { MAX_REGEXP_PROGRAM_SIZE, regexp } from "./regexp.js";
import { text } from "./test-support.js";

describe("regexp decoder", () => {
  it.each([
    ["^kworker", "kworker/0:1", "kworker/0:1"],
    ["^kworker", "bash", SKIP],
    ["sh$", "bash", "bash"],
    ["", "anything", "anything"],
    ["é", "café", "café"],
    ["^(ba|z)sh$", "zsh", "zsh"],
    ["[[:digit:]]+", "cpu7", "cpu7"],
  ])("with pattern %j decodes %j as %s", (pattern, input, expected) => {
    expect(regexp.decode(text(input), { pattern })).toBe(expected);
  });

  it("refuses a missing or invalid pattern, and what RE2 cannot match in linear time", () => {
    expect(regexp.checkOptions?.({})).toMatch(/needs "pattern"/);
    expect(regexp.checkOptions?.({ pattern: "(" })).toMatch(/not a valid RE2 regular expression/);
    // Backreferences and lookahead need backtracking: RE2 has neither.
    expect(regexp.checkOptions?.({ pattern: "(a)\\1" })).toMatch(/not a valid RE2 regular expression/);
    expect(regexp.checkOptions?.({ pattern: "a(?=b)" })).toMatch(/not a valid RE2 regular expression/);
    expect(regexp.checkOptions?.({ pattern: "a+" })).toBeUndefined();
  });

  it(`refuses patterns that compile to more than ${MAX_REGEXP_PROGRAM_SIZE} instructions`, () => {
    expect(regexp.checkOptions?.({ pattern: "[a-z]{1000}[0-9]{1000}x" })).toMatch(/compiles to \d+ instructions; at most 2000/);
  });

  it("drops the row rather than throwing when the options were never checked", () => {
    expect(regexp.decode(text("x"), { pattern: "(" })).toBe(SKIP);
  });

  it("matches a tenant's catastrophic-backtracking pattern against hostile text in linear time", () => {
    // JavaScript's RegExp needs ~2^n steps here: with n = 30 it would not finish in this test's
    // lifetime (a 5 s timeout). RE2 walks the text once.
    const hostile = `${"a".repeat(30)}b`;
    const started = performance.now();
    const options = { pattern: "^(a+)+$" };
    const input = text(hostile);
    let skipped = 0;
    for (let i = 0; i < 1000; i++) if (regexp.decode(input, options) === SKIP) skipped++;
    expect(skipped).toBe(1000);
    expect(regexp.decode(text("a".repeat(30)), options)).toBe("a".repeat(30));
    // 1000 matches of a 31-byte text: milliseconds, not exponential (a generous bound for a busy CI machine).
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
