import { describe, expect, it } from "vitest";
import { SKIP } from "../plugin/sdk.js";
import { regexp } from "./regexp.js";
import { text } from "./test-support.js";

describe("regexp decoder", () => {
  it.each([
    ["^kworker", "kworker/0:1", "kworker/0:1"],
    ["^kworker", "bash", SKIP],
    ["sh$", "bash", "bash"],
    ["", "anything", "anything"],
    ["é", "café", "café"],
  ])("with pattern %j decodes %j as %s", (pattern, input, expected) => {
    expect(regexp.decode(text(input), { pattern })).toBe(expected);
  });

  it("refuses a missing or invalid pattern", () => {
    expect(regexp.checkOptions?.({})).toMatch(/needs "pattern"/);
    expect(regexp.checkOptions?.({ pattern: "(" })).toMatch(/not a valid regular expression/);
    expect(regexp.checkOptions?.({ pattern: "a+" })).toBeUndefined();
  });

  it("drops the row rather than throwing when the options were never checked", () => {
    expect(regexp.decode(text("x"), { pattern: "(" })).toBe(SKIP);
  });
});
