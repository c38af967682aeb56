import { describe, expect, it } from "vitest";
import { FENTRY_TARGET_PATTERN, parseFentryTarget } from "./fentry-target.js";

describe("parseFentryTarget", () => {
  it.each([
    ["fentry", "do_unlinkat", "do_unlinkat"],
    ["fentry", "fentry/tcp_v4_connect", "tcp_v4_connect"],
    ["fexit", "sys_openat", "sys_openat"],
    ["fexit", "fexit/__x64_sys_openat", "__x64_sys_openat"],
  ])("reads the %s target %s as %s", (type, target, fn) => {
    expect(parseFentryTarget(type, target)).toEqual({ function: fn });
    expect(new RegExp(FENTRY_TARGET_PATTERN).test(target)).toBe(true);
  });

  it.each([
    ["fentry", "do_unlinkat+0x10", "not at an offset (a kprobe takes offsets)"],
    ["fexit", "vfs_read+4", "attaches at the function's return, not at an offset"],
    ["fentry", "1abc", "is not a kernel function name (e.g. do_unlinkat)"],
    ["fentry", "module:func", "is not a kernel function name"],
    ["fentry", "fexit/do_unlinkat", "has the prefix of another type (fexit/): write do_unlinkat or fentry/do_unlinkat"],
    ["fexit", "fentry/do_unlinkat", "has the prefix of another type (fentry/)"],
  ])("refuses the %s target %j: %s", (type, target, message) => {
    expect(() => parseFentryTarget(type, target)).toThrow(
      expect.objectContaining({ code: "EOP_ERR_TARGET_INVALID", message: expect.stringContaining(message) }),
    );
  });
});
