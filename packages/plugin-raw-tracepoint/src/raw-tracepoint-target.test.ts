import { describe, expect, it } from "vitest";
import { parseRawTracepointTarget, RAW_TRACEPOINT_TARGET_PATTERN } from "./raw-tracepoint-target.js";

describe("parseRawTracepointTarget", () => {
  it.each([
    ["raw_tp", "sched_switch", "sched_switch"],
    ["raw_tp", "raw_tp/sys_enter", "sys_enter"],
    ["raw_tp", "raw_tracepoint/sys_exit", "sys_exit"],
    ["tp_btf", "kfree_skb", "kfree_skb"],
    ["tp_btf", "tp_btf/softirq_entry", "softirq_entry"],
  ])("reads the %s target %s as %s", (type, target, name) => {
    expect(parseRawTracepointTarget(type, target)).toEqual({ name });
    expect(new RegExp(RAW_TRACEPOINT_TARGET_PATTERN).test(target)).toBe(true);
  });

  it.each([
    ["raw_tp", "sched/sched_switch", "without its category (sched_switch, not sched/sched_switch)"],
    ["tp_btf", "syscalls:sys_enter_execve", "without its category (sys_enter_execve, not syscalls/sys_enter_execve)"],
    ["tp_btf", "9lives", "is not a tracepoint name (e.g. sched_switch)"],
    ["raw_tp", "", "is not a tracepoint name"],
    ["raw_tp", "tp_btf/sched_switch", "has the prefix of another type (tp_btf/): write sched_switch or raw_tp/sched_switch"],
    ["tp_btf", "raw_tp/sched_switch", "has the prefix of another type (raw_tp/): write sched_switch or tp_btf/sched_switch"],
  ])("refuses the %s target %j: %s", (type, target, message) => {
    expect(() => parseRawTracepointTarget(type, target)).toThrow(
      expect.objectContaining({ code: "EOP_ERR_TARGET_INVALID", message: expect.stringContaining(message) }),
    );
  });
});
