import { describe, expect, it } from "vitest";
import { staticMap } from "./static-map.js";
import { text } from "./test-support.js";

describe("static_map decoder", () => {
  const options = { values: { "1": "read", "2": "write" } };
  it.each([
    [options, "1", "read"],
    [options, "2", "write"],
    [options, "3", "unknown:3"],
    [{ ...options, default: "other" }, "3", "other"],
    [options, "", "unknown:"],
  ])("with %o decodes %j as %s", (opts, input, expected) => {
    expect(staticMap.decode(text(input), opts)).toBe(expected);
  });

  it.each([
    [{}, /needs "values"/],
    [{ values: ["a"] }, /needs "values"/],
    [{ values: { "1": 2 } }, /values.1 must be a string/],
    [{ values: {}, default: 1 }, /default must be a string/],
  ])("refuses options %o", (opts, message) => {
    expect(staticMap.checkOptions?.(opts)).toMatch(message);
  });
});
