import { describe, expect, it } from "vitest";
import { parseCgroup2MountInfo } from "./cgroup-mount.js";

describe("parseCgroup2MountInfo", () => {
  it("finds the unified mount on a hybrid host, after the v1 mounts", () => {
    const text = [
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate",
    ].join("\n");
    expect(parseCgroup2MountInfo(text)).toEqual({ path: "/sys/fs/cgroup/unified", root: "/" });
  });

  it("keeps a namespaced mount's root and unescapes paths", () => {
    const text = "50 40 0:30 /kubepods/pod\\040x /host\\040cgroup rw - cgroup2 cgroup2 rw";
    expect(parseCgroup2MountInfo(text)).toEqual({ path: "/host cgroup", root: "/kubepods/pod x" });
  });

  it("says when there is no cgroup v2", () => {
    expect(parseCgroup2MountInfo("32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n")).toBeUndefined();
  });
});
