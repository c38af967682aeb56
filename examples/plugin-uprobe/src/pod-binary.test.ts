import { existsSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { constants } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InRootError, openInRoot } from "./pod-binary.js";

/**
 * The lookup confined to a container's root, on a real directory tree: a "root" holding an app
 * and hostile symlinks, beside an "outside" file standing for the node's own files.
 */
describe("openInRoot", () => {
  let base: string;
  let root: string;
  let rootFd: FileHandle;
  let outside: string;
  const inode = async (file: FileHandle) => (await file.stat()).ino;
  const lookup = async (path: string) => {
    const file = await openInRoot(rootFd, path);
    try {
      return await inode(file);
    } finally {
      await file.close();
    }
  };

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), "eop-inroot-"));
    root = join(base, "root");
    mkdirSync(join(root, "app", "bin"), { recursive: true });
    mkdirSync(join(root, "usr", "lib"), { recursive: true });
    writeFileSync(join(root, "app", "bin", "server"), "inside");
    linkSync(join(root, "app", "bin", "server"), join(root, "usr", "lib", "same"));
    outside = join(base, "outside");
    writeFileSync(outside, "the node's");
    symlinkSync("/", join(root, "app", "to-root"));
    symlinkSync("../../../../../../..", join(root, "app", "up"));
    symlinkSync(outside, join(root, "app", "absolute-outside"));
    symlinkSync("bin/server", join(root, "app", "relative"));
    symlinkSync("/app/bin/server", join(root, "app", "absolute-inside"));
    symlinkSync("loop-b", join(root, "app", "loop-a"));
    symlinkSync("loop-a", join(root, "app", "loop-b"));
    execFileSync("mkfifo", [join(root, "app", "fifo")]);
    rootFd = await open(root, constants.O_RDONLY | constants.O_DIRECTORY);
  });
  afterAll(async () => {
    await rootFd?.close();
    rmSync(base, { recursive: true, force: true });
  });

  it("opens a file of the root, through relative and absolute symlinks inside it", async () => {
    const server = await lookup("/app/bin/server");
    expect(await lookup("/app/relative")).toBe(server);
    expect(await lookup("/app/absolute-inside")).toBe(server);
    expect(await lookup("/usr/lib/same")).toBe(server); // a hard link: the same inode
    expect(await lookup("/app/bin/../bin/./server")).toBe(server);
  });

  it.each([
    ["an absolute symlink to /", () => `/app/to-root${outside}`],
    ["a relative symlink climbing out with ..", () => `/app/up${outside}`],
    ["a path climbing out with ..", () => `/../../../../..${outside}`],
    ["a symlink to a node path", () => "/app/absolute-outside"],
  ])("attack: %s resolves inside the root, never to the node's file", async (_what, path) => {
    // Plain path resolution through the root does reach the node's file (what the walk prevents)...
    if (!path().startsWith("/app/absolute")) expect(existsSync(join(root, path()))).toBe(true);
    // ...which exists at that path outside the root; inside the root it does not.
    await expect(lookup(path())).rejects.toThrow(expect.objectContaining({ name: "InRootError", message: expect.stringContaining("does not exist") }));
  });

  it("refuses a symlink loop, a FIFO (never opened: it would block), a directory and a missing file", async () => {
    await expect(lookup("/app/loop-a")).rejects.toThrow(/more than 40 symbolic links/);
    await expect(lookup("/app/fifo")).rejects.toThrow(/is not a regular file/);
    await expect(lookup("/app/bin")).rejects.toThrow(/names a directory|not a regular file/);
    await expect(lookup("/app/bin/server/x")).rejects.toThrow(/server is not a directory/);
    await expect(lookup("/nope")).rejects.toThrow(InRootError);
  });
});
