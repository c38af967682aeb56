import { describe, expect, it } from "vitest";
import { errno } from "./errno.js";
import { text } from "./test-support.js";

describe("errno decoder", () => {
  it.each([
    ["2", "ENOENT"],
    ["-2", "ENOENT"],
    ["11", "EAGAIN"],
    ["95", "EOPNOTSUPP"],
    ["35", "EDEADLK"],
    ["13", "EACCES"],
    ["0", "unknown:0"],
    ["99999", "unknown:99999"],
    ["", "unknown:0x"],
  ])("decodes %j as %s", (input, expected) => {
    expect(errno.decode(text(input), {})).toBe(expected);
  });
});
