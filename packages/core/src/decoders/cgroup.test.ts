import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cgroup2MountPoint, createCgroupDecoder } from "./cgroup.js";
import { text } from "./test-support.js";

describe("cgroup2MountPoint", () => {
  it.each([
    ["35 24 0:30 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n", "/sys/fs/cgroup/unified"],
    ["30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup"],
    ["31 1 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", undefined],
  ])("finds the cgroup2 mount in %j", (mountinfo, expected) => {
    expect(cgroup2MountPoint(mountinfo)).toBe(expected);
  });
});

describe("cgroup decoder", () => {
  // A directory tree stands in for the hierarchy: ids are inode numbers either way.
  const root = mkdtempSync(join(tmpdir(), "eop-cgroup-"));
  mkdirSync(join(root, "system.slice/ssh.service"), { recursive: true });
  const ino = (path: string) => statSync(join(root, path), { bigint: true }).ino;
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it.each([
    ["", "/"],
    ["system.slice", "/system.slice"],
    ["system.slice/ssh.service", "/system.slice/ssh.service"],
  ])("names the cgroup %j by its inode", (path, expected) => {
    expect(createCgroupDecoder({ root }).decode(text(ino(path)), {})).toBe(expected);
  });

  it("retries an unknown id after the negative time to live instead of remembering it", () => {
    let now = 0;
    const decoder = createCgroupDecoder({ root, negativeTtlMs: 1000, now: () => now });
    expect(decoder.decode(text(ino("system.slice")), {})).toBe("/system.slice");
    mkdirSync(join(root, "late.slice"));
    const late = text(ino("late.slice"));
    now = 10; // the first scan was just now: the miss is remembered briefly
    expect(decoder.decode(late, {})).toMatch(/^unknown:\d+$/);
    now = 1010;
    expect(decoder.decode(late, {})).toBe("/late.slice");
  });

  it("turns input that is not decimal text into unknown", () => {
    expect(createCgroupDecoder({ root }).decode(Buffer.from([1, 2]), {})).toBe("unknown:0x0102");
  });
});
