/**
 * Content-addressed object cache, bounded in size, least recently used out.
 *
 * Keys cover everything that changes the object's bytes. Like ccache's direct mode, in two steps:
 *
 *   manifest key = hash(source, flags (target, defines, include path), full `clang --version`,
 *                       the toolchain's files, whether the sandbox is used)
 *   object key   = hash(manifest key, path + SHA-256 of every header the preprocessor read,
 *                       mtime (or absence) of every directory where a new file would shadow one)
 *
 * The headers a program reads are only known after `clang -E`; the manifest remembers them, so a
 * later lookup re-hashes just those files (memoized by inode, size and mtime) and finds the
 * object without running clang. Any changed header, system headers included, is a miss.
 *
 * Layout under `<cacheDir>/`:
 *   objects/<key>.o            the BPF ELF object
 *   objects/<key>.json         the warnings clang printed, replayed on cache hits
 *   manifests/<manifest>.json  { key, headers: [[path, sha256], ...] }
 * Files are published by rename (whole or absent), so several processes may share a cache. A hit
 * touches the object's mtime, which is the recency eviction goes by.
 */
import { createHash } from "node:crypto";
import type { Stats } from "node:fs";
import { open, readdir, readFile, rm, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-file.js";
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

/**
 * Paths, sizes and mtimes of every file below `dir`: tells a changed copy of a (small) directory
 * from an unchanged one without reading it.
 */
export async function fileListingHash(dir: string): Promise<string> {
  const hash = createHash("sha256");
  const walk = async (relative: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(relative ? join(dir, relative) : dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(path);
      else {
        const info = await stat(join(dir, path)).catch(() => undefined);
        hash.update(`${path}\0${info?.size ?? -1}\0${info?.mtimeMs ?? -1}\0`);
      }
    }
  };
  await walk("");
  return hash.digest("hex");
}

/** SHA-256 of a file's content, memoized by (device, inode, size, mtime, ctime). */
const fileHashes = new Map<string, { signature: string; hash: string }>();
export async function hashFileContent(path: string): Promise<string> {
  let info: Stats;
  try {
    info = await stat(path);
  } catch {
    return "<missing>";
  }
  // A directory stands for what it holds: a file added, removed or renamed there changes its mtime.
  if (info.isDirectory()) return `<directory ${info.mtimeMs}>`;
  if (!info.isFile()) return "<not a regular file>";
  const signature = `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
  const memo = fileHashes.get(path);
  if (memo?.signature === signature) return memo.hash;
  const hash = createHash("sha256");
  const handle = await open(path, "r");
  try {
    for await (const chunk of handle.createReadStream()) hash.update(chunk as Buffer);
  } finally {
    await handle.close().catch(() => undefined);
  }
  const digest = hash.digest("hex");
  if (fileHashes.size > 20_000) fileHashes.clear();
  fileHashes.set(path, { signature, hash: digest });
  return digest;
}

/** The headers a compile read (and the directories that could shadow them), as `[path, sha256 or state]`, in a stable order. */
export type HeaderHashes = [string, string][];

export async function hashHeaders(paths: Iterable<string>): Promise<HeaderHashes> {
  const unique = [...new Set(paths)].sort();
  return Promise.all(unique.map(async (path): Promise<[string, string]> => [path, await hashFileContent(path)]));
}

export function objectKey(manifestKey: string, headers: HeaderHashes): string {
  return cacheKey({ manifest: manifestKey, headers: JSON.stringify(headers) });
}

interface Manifest {
  key: string;
  headers: HeaderHashes;
}

export interface CachedObject {
  objectPath: string;
  key: string;
  diagnostics: Diagnostic[];
}

export interface EvictionResult {
  evicted: number;
  bytes: number;
}

/** evict() scans the directories again after this many writes even when its estimate is below the bound. */
export const RESCAN_AFTER_WRITES = 64;

/** Objects used (returned) within this window are not evicted: a caller may still be reading them. */
export const EVICTION_GRACE_MS = 60_000;

export class CompileCache {
  readonly objectsDir: string;
  readonly manifestsDir: string;

  constructor(
    cacheDir: string,
    /** Upper bound of objects/ + manifests/ in bytes. */
    readonly maxBytes: number,
    private readonly graceMs: number = EVICTION_GRACE_MS,
  ) {
    this.objectsDir = join(cacheDir, "objects");
    this.manifestsDir = join(cacheDir, "manifests");
  }

  objectPath(key: string): string {
    return join(this.objectsDir, `${key}.o`);
  }

  /** The object for an object key, touched as used. */
  async lookup(key: string): Promise<CachedObject | undefined> {
    const objectPath = this.objectPath(key);
    // The sidecar is written before the object and removed with it: no sidecar, no object.
    let diagnostics: Diagnostic[];
    try {
      diagnostics = JSON.parse(await readFile(join(this.objectsDir, `${key}.json`), "utf8")) as Diagnostic[];
    } catch {
      return undefined;
    }
    // Touching it (mtime: the recency eviction goes by) also proves the object is there.
    const now = new Date();
    try {
      await utimes(objectPath, now, now);
    } catch {
      return undefined;
    }
    return { objectPath, key, diagnostics };
  }

  /** The object a manifest key led to last time, if every header it read is unchanged. */
  async lookupManifest(manifestKey: string): Promise<CachedObject | undefined> {
    const path = join(this.manifestsDir, `${manifestKey}.json`);
    let manifest = this.#manifests.get(manifestKey);
    if (!manifest) {
      try {
        manifest = JSON.parse(await readFile(path, "utf8")) as Manifest;
      } catch {
        return undefined;
      }
      if (!Array.isArray(manifest.headers)) return undefined;
      this.#remember(manifestKey, manifest);
    }
    const current = await hashHeaders(manifest.headers.map(([header]) => header));
    const key = objectKey(manifestKey, current);
    if (key !== manifest.key) return undefined;
    const hit = await this.lookup(key);
    if (hit) {
      const now = new Date();
      // Recency only; not worth waiting for.
      void utimes(path, now, now).catch(() => undefined);
    } else this.#manifests.delete(manifestKey);
    return hit;
  }

  /** Manifests read or written by this process, so a burst of equal compiles reads the file once. */
  readonly #manifests = new Map<string, Manifest>();
  #remember(manifestKey: string, manifest: Manifest): void {
    if (this.#manifests.size >= 10_000) this.#manifests.clear();
    this.#manifests.set(manifestKey, manifest);
  }

  async storeManifest(manifestKey: string, key: string, headers: HeaderHashes): Promise<void> {
    const text = JSON.stringify({ key, headers });
    await writeFileAtomic(join(this.manifestsDir, `${manifestKey}.json`), text);
    this.#remember(manifestKey, { key, headers });
    this.#grew(Buffer.byteLength(text));
  }

  /** Publishes an object (already size-checked) with its warnings; returns its path. */
  async store(key: string, object: Uint8Array, diagnostics: Diagnostic[]): Promise<string> {
    const sidecar = JSON.stringify(diagnostics);
    await writeFileAtomic(join(this.objectsDir, `${key}.json`), sidecar);
    const objectPath = this.objectPath(key);
    await writeFileAtomic(objectPath, object);
    this.#grew(Buffer.byteLength(sidecar) + object.length);
    return objectPath;
  }

  /**
   * The cache's size as of the last scan plus what this process wrote since (an overestimate
   * when a write replaced a file), so evict() need not stat every file after every store: that
   * made N compiles cost N² stat calls (docs/benchmarks.md, section 4). Another process sharing
   * the directory is caught by the rescan every RESCAN_AFTER_WRITES writes.
   */
  #estimate: number | undefined;
  #writesSinceScan = 0;
  #grew(bytes: number): void {
    if (this.#estimate !== undefined) this.#estimate += bytes;
    this.#writesSinceScan += 1;
  }

  /** Total bytes of objects, their sidecars and the manifests. */
  async size(): Promise<number> {
    const entries = [...(await this.#entries(this.objectsDir)), ...(await this.#entries(this.manifestsDir))];
    return entries.reduce((sum, e) => sum + e.size, 0);
  }

  /**
   * Deletes least recently used objects until the cache is at most 90% of `maxBytes` (so not
   * every store evicts), and the manifests that lead to them. Objects used within the grace
   * period stay, even above the bound: a caller may be about to read them.
   */
  async evict(): Promise<EvictionResult & { size: number }> {
    if (this.#estimate !== undefined && this.#estimate <= this.maxBytes && this.#writesSinceScan < RESCAN_AFTER_WRITES) {
      return { evicted: 0, bytes: 0, size: this.#estimate };
    }
    this.#writesSinceScan = 0;
    const result = await this.#scanAndEvict();
    this.#estimate = result.size;
    return result;
  }

  async #scanAndEvict(): Promise<EvictionResult & { size: number }> {
    const entries = await this.#entries(this.objectsDir);
    const objects = entries.filter((e) => e.name.endsWith(".o"));
    const sidecars = new Map(entries.filter((e) => e.name.endsWith(".json")).map((e) => [e.name, e]));
    const manifests = await this.#entries(this.manifestsDir);
    const sum = (list: Iterable<{ size: number }>): number => [...list].reduce((s, e) => s + e.size, 0);
    let total = sum(objects) + sum(sidecars.values()) + sum(manifests);
    const result = { evicted: 0, bytes: 0, size: total };
    if (total <= this.maxBytes) return result;
    const target = Math.floor(this.maxBytes * 0.9);
    const now = Date.now();
    const evicted = new Set<string>();
    for (const object of objects.sort((a, b) => a.mtimeMs - b.mtimeMs)) {
      if (total <= target || now - object.mtimeMs < this.graceMs) break;
      const key = object.name.slice(0, -2);
      const sidecar = sidecars.get(`${key}.json`);
      await rm(join(this.objectsDir, object.name), { force: true });
      if (sidecar) await rm(join(this.objectsDir, sidecar.name), { force: true });
      const freed = object.size + (sidecar?.size ?? 0);
      total -= freed;
      result.evicted += 1;
      result.bytes += freed;
      evicted.add(key);
    }
    if (evicted.size > 0) {
      for (const manifest of manifests) {
        let key: unknown;
        try {
          key = (JSON.parse(await readFile(join(this.manifestsDir, manifest.name), "utf8")) as { key?: unknown }).key;
        } catch {
          key = undefined; // unreadable: of no use either
        }
        if (typeof key === "string" && !evicted.has(key)) continue;
        await rm(join(this.manifestsDir, manifest.name), { force: true });
        this.#manifests.delete(manifest.name.replace(/\.json$/, ""));
        total -= manifest.size;
        result.bytes += manifest.size;
      }
    }
    result.size = total;
    return result;
  }

  async #entries(dir: string): Promise<{ name: string; size: number; mtimeMs: number }[]> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    const out: { name: string; size: number; mtimeMs: number }[] = [];
    for (const name of names) {
      if (name.startsWith(".")) continue; // a temp file being published
      try {
        const info = await stat(join(dir, name));
        if (info.isFile()) out.push({ name, size: info.size, mtimeMs: info.mtimeMs });
      } catch {
        // removed meanwhile
      }
    }
    return out;
  }
}
