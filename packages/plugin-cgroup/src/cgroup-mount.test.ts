import { describe, expect, it } from "vitest";
import { cgroupDirectory, cgroupPathOf, parseCgroup2Mount } from "./cgroup-mount.js";

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const UNIFIED = `25 20 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

describe("parseCgroup2Mount", () => {
  it.each([
    ["a hybrid layout", HYBRID, "/sys/fs/cgroup/unified"],
    ["a unified layout with optional fields", UNIFIED, "/sys/fs/cgroup"],
    ["an escaped mount point", "1 2 0:1 / /mnt/cg\\040two rw - cgroup2 none rw\n", "/mnt/cg two"],
    ["only v1 hierarchies", "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", undefined],
    ["nothing", "", undefined],
  ])("finds the v2 mount in %s", (_what, text, expected) => {
    expect(parseCgroup2Mount(text)).toBe(expected);
  });
});

describe("cgroupDirectory", () => {
  const mount = "/sys/fs/cgroup/unified";
  it.each([
    ["/", mount],
    ["/system.slice", `${mount}/system.slice`],
    ["system.slice/", `${mount}/system.slice`],
    ["/sys/fs/cgroup/unified/test", `${mount}/test`],
    ["/sys/fs/cgroup/unified", mount],
    ["/sys/fs/cgroup/unifiedx", `${mount}/sys/fs/cgroup/unifiedx`],
  ])("puts %s at its directory", (cgroup, directory) => {
    expect(cgroupDirectory(mount, cgroup)).toBe(directory);
  });
});

describe("cgroupPathOf", () => {
  it.each([
    ["/sys/fs/cgroup", "/sys/fs/cgroup", "/"],
    ["/sys/fs/cgroup", "/sys/fs/cgroup/system.slice/a.service", "/system.slice/a.service"],
  ])("names %s's %s as %s", (mount, directory, path) => {
    expect(cgroupPathOf(mount, directory)).toBe(path);
  });
});
