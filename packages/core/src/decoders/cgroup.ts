/**
 * `cgroup`: a cgroup v2 id (decimal text, usually after `uint`; what `bpf_get_current_cgroup_id()`
 * returns) as the cgroup's path below the v2 root (`/system.slice/ssh.service`). On cgroup v2 the
 * id is the directory's inode number, so the hierarchy is walked and indexed by inode. Cached
 * with a bound; unknown ids are retried after a short time (see RescanningIndex).
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { CoreDecoder } from "./decoder.js";
import { parseDecimal, unknown } from "./input.js";
import { RescanningIndex } from "./rescanning-index.js";

/** The first cgroup2 mount point in mountinfo text, or undefined. */
export function cgroup2MountPoint(mountinfo: string): string | undefined {
  for (const line of mountinfo.split("\n")) {
    const [before, after] = line.split(" - ");
    if (after?.startsWith("cgroup2 ")) return before?.split(" ")[4];
  }
  return undefined;
}

function defaultRoot(): string {
  try {
    return cgroup2MountPoint(readFileSync("/proc/self/mountinfo", "utf8")) ?? "/sys/fs/cgroup";
  } catch {
    return "/sys/fs/cgroup";
  }
}

/** Every cgroup directory below `root` as [inode, path relative to root ("/" for the root)]. */
export function* walkCgroups(root: string): Generator<readonly [bigint, string]> {
  const pending: string[] = [""];
  while (pending.length > 0) {
    const relative = pending.pop()!;
    const dir = join(root, relative);
    let ino: bigint;
    try {
      ino = statSync(dir, { bigint: true }).ino;
    } catch {
      continue; // removed while walking
    }
    yield [ino, relative === "" ? "/" : `/${relative}`];
    let children: string[];
    try {
      children = readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => (relative === "" ? d.name : `${relative}/${d.name}`));
    } catch {
      continue;
    }
    pending.push(...children);
  }
}

export interface CgroupDecoderOptions {
  root?: string;
  maxEntries?: number;
  negativeTtlMs?: number;
  now?: () => number;
}

export function createCgroupDecoder(options: CgroupDecoderOptions = {}): CoreDecoder {
  let index: RescanningIndex<bigint> | undefined;
  return {
    name: "cgroup",
    decode(input) {
      const id = parseDecimal(input);
      if (id === undefined) return unknown(input);
      // Built on first use: most agents never decode a cgroup.
      index ??= new RescanningIndex<bigint>({
        scan: () => walkCgroups(options.root ?? defaultRoot()),
        maxEntries: options.maxEntries,
        negativeTtlMs: options.negativeTtlMs,
        now: options.now,
      });
      return index.resolve(id) ?? `unknown:${id}`;
    },
  };
}

export const cgroup: CoreDecoder = createCgroupDecoder();
