import { describe, expect, it } from "vitest";
import { syscall } from "./syscall.js";
import { text } from "./test-support.js";

describe("syscall decoder", () => {
  it.each([
    ["0", "read"],
    ["1", "write"],
    ["59", "execve"],
    ["231", "exit_group"],
    ["450", "set_mempolicy_home_node"],
    ["100000", "unknown:100000"],
    ["-1", "unknown:-1"],
    ["abc", "unknown:0x616263"],
  ])("decodes %j as %s", (input, expected) => {
    expect(syscall.decode(text(input), {})).toBe(expected);
  });
});
