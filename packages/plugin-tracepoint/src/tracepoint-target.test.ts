import { describe, expect, it } from "vitest";
import { parseTracepointTarget, TRACEPOINT_TARGET_PATTERN } from "./tracepoint-target.js";

describe("parseTracepointTarget", () => {
  it.each([
    ["syscalls/sys_enter_execve", "syscalls", "sys_enter_execve"],
    ["syscalls:sys_enter_execve", "syscalls", "sys_enter_execve"],
    ["tracepoint/sched/sched_switch", "sched", "sched_switch"],
    ["tp/raw_syscalls/sys_enter", "raw_syscalls", "sys_enter"],
  ])("reads %s as %s:%s", (target, category, name) => {
    expect(parseTracepointTarget(target)).toEqual({ category, name });
    expect(new RegExp(TRACEPOINT_TARGET_PATTERN).test(target)).toBe(true);
  });

  it.each(["execve", "syscalls/", "/sys_enter_execve", "syscalls/sys enter", "a/b/c", "../etc/passwd"])("refuses %j with the expected syntax", (target) => {
    expect(() => parseTracepointTarget(target)).toThrow(
      expect.objectContaining({ code: "EOP_ERR_TARGET_INVALID", message: expect.stringContaining("category/name") }),
    );
    expect(new RegExp(TRACEPOINT_TARGET_PATTERN).test(target)).toBe(false);
  });
});
