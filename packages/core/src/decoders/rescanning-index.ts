/**
 * An id -> name lookup backed by a scan of the system (the cgroup tree, /sys/class/net), for
 * decoders. Found names are kept in a bounded LRU; an id the scan does not know is answered
 * "unknown" for `negativeTtlMs` and then looked for again, and scans run at most once per
 * `negativeTtlMs`, so a burst of unknown ids costs one scan, and a cgroup or interface created
 * after a scan is named on a later scrape instead of staying unknown forever.
 */
import { LruCache } from "./lru-cache.js";

export interface RescanningIndexOptions<K> {
  scan: () => Iterable<readonly [K, string]>;
  maxEntries?: number;
  negativeTtlMs?: number;
  now?: () => number;
}

export class RescanningIndex<K> {
  private readonly cache: LruCache<K, string | null>;
  private readonly scan: () => Iterable<readonly [K, string]>;
  private readonly negativeTtlMs: number;
  private readonly now: () => number;
  private lastScan = Number.NEGATIVE_INFINITY;
  /** Scans run so far (for tests and debugging). */
  scans = 0;

  constructor(options: RescanningIndexOptions<K>) {
    this.now = options.now ?? Date.now;
    this.cache = new LruCache({ maxEntries: options.maxEntries ?? 4096, now: this.now });
    this.scan = options.scan;
    this.negativeTtlMs = options.negativeTtlMs ?? 10_000;
  }

  /** The name of `id`, or undefined when it is unknown (for now). */
  resolve(id: K): string | undefined {
    const cached = this.cache.get(id);
    if (cached !== undefined) return cached ?? undefined;
    if (this.now() - this.lastScan >= this.negativeTtlMs) {
      const found = this.rescan(id);
      if (found !== undefined) return found;
    }
    this.cache.set(id, null, this.negativeTtlMs);
    return undefined;
  }

  /** Refills the cache; returns the name of `wanted` (it may not fit in a full cache). */
  private rescan(wanted: K): string | undefined {
    this.lastScan = this.now();
    this.scans++;
    let found: string | undefined;
    try {
      for (const [id, name] of this.scan()) {
        this.cache.set(id, name);
        if (id === wanted) found = name;
      }
    } catch {
      // An unreadable tree leaves every id unknown until the next scan.
    }
    if (found !== undefined) this.cache.set(wanted, found);
    return found;
  }
}
