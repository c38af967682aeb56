/**
 * Content-addressed object cache. The key covers everything that can change the object: the
 * source, every flag, the exact clang build, the vmlinux.h in use and the headers under the
 * include directory (prelude included). Layout under `<cacheDir>/objects/`:
 *   <key>.o     the BPF ELF object
 *   <key>.json  the warnings clang printed, replayed on cache hits
 * The sidecar is written before the object, so an object's presence implies both are complete.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { publishFile, writeFileAtomic } from "./atomic-file.js";
import type { Diagnostic } from "./diagnostics.js";

export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Hash of labelled parts; lengths are included so ("ab","c") and ("a","bc") differ. */
export function cacheKey(parts: Record<string, string>): string {
  const hash = createHash("sha256");
  for (const [name, value] of Object.entries(parts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    hash
      .update(`${name}\0${Buffer.byteLength(value)}\0`)
      .update(value)
      .update("\0");
  }
  return hash.digest("hex");
}

/** Hash over the relative paths and contents of all files below `dir` (sorted, symlinks followed). */
export async function hashDirectory(dir: string): Promise<string> {
  const files: string[] = [];
  const walk = async (current: string): Promise<void> => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) await walk(path);
      else files.push(path);
    }
  };
  await walk(dir);
  files.sort();
  const hash = createHash("sha256");
  for (const file of files) {
    let content: Buffer;
    try {
      content = await readFile(file);
    } catch {
      content = Buffer.from("<unreadable>");
    }
    hash.update(`${relative(dir, file)}\0${content.length}\0`).update(content);
  }
  return hash.digest("hex");
}

export interface CachedObject {
  objectPath: string;
  diagnostics: Diagnostic[];
}

export class CompileCache {
  readonly objectsDir: string;
  constructor(cacheDir: string) {
    this.objectsDir = join(cacheDir, "objects");
  }

  objectPath(key: string): string {
    return join(this.objectsDir, `${key}.o`);
  }

  async lookup(key: string): Promise<CachedObject | undefined> {
    const objectPath = this.objectPath(key);
    try {
      const info = await stat(objectPath);
      if (!info.isFile() || info.size === 0) return undefined;
    } catch {
      return undefined;
    }
    let diagnostics: Diagnostic[] = [];
    try {
      diagnostics = JSON.parse(await readFile(join(this.objectsDir, `${key}.json`), "utf8")) as Diagnostic[];
    } catch {
      // Written before the object, so this is only missing if someone deleted it: no warnings then.
    }
    return { objectPath, diagnostics };
  }

  /** Moves a freshly built object (on the cache's file system) into the cache. */
  async store(key: string, builtObject: string, diagnostics: Diagnostic[]): Promise<string> {
    await writeFileAtomic(join(this.objectsDir, `${key}.json`), JSON.stringify(diagnostics));
    const objectPath = this.objectPath(key);
    await publishFile(builtObject, objectPath);
    return objectPath;
  }
}
