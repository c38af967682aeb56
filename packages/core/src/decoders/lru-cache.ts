/**
 * A bounded least-recently-used cache whose entries can expire. Decoders that look things up
 * in the system (cgroup paths, interface names) keep hits for long and misses only briefly:
 * an id unknown now (a cgroup created after the last scan) must be retried later, not remembered
 * as "unknown" forever (ebpf_exporter PR #457 served 6,043 such series).
 */
export interface LruCacheOptions {
  /** Most entries kept; the least recently used is evicted beyond it. */
  maxEntries: number;
  /** Clock in milliseconds; injectable for tests. */
  now?: () => number;
}

interface Entry<V> {
  value: V;
  expiresAt: number;
}

export class LruCache<K, V> {
  // A Map iterates in insertion order: re-inserting on access keeps the oldest first.
  private readonly entries = new Map<K, Entry<V>>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: LruCacheOptions) {
    this.maxEntries = Math.max(1, options.maxEntries);
    this.now = options.now ?? Date.now;
  }

  /** The live value for `key`, or undefined when absent or expired. */
  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value`; `ttlMs` (default: forever) bounds how long it is served. */
  set(key: K, value: V, ttlMs = Number.POSITIVE_INFINITY): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}
