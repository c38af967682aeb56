/**
 * A rate-limited work queue with controller-runtime's semantics, hand-written because
 * client-node has none:
 *   - a key is queued at most once (adding a queued key is a no-op);
 *   - a key being processed is never handed out again until `done` — adding it meanwhile marks
 *     it dirty, and it is re-queued when the current run ends (no two reconciles of one object
 *     run at once);
 *   - `addRateLimited` re-queues after a per-key exponential backoff (`forget` resets it).
 *
 * And fair across tenants, which controller-runtime's FIFO is not: keys are grouped into shards
 * (by default the namespace of a `namespace/name` key) and handed out round-robin, one key per
 * shard in turn, and a shard gets a second worker only while no other shard has a key waiting.
 * So one tenant's thousand EbpfMaps, or its slow and failing reconciles, delay another tenant's
 * next reconcile (an edit, a policy or label revocation) by at most one key of each shard ahead
 * of it in the rotation, never by the whole backlog. `maxActivePerShard` bounds how many workers
 * one shard may hold at all.
 */
export interface WorkQueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Which shard a key belongs to; default: the part before the first "/" (the namespace). */
  shardOf?: (key: string) => string;
  /**
   * Most keys of one shard processed at once (default: no limit). With N workers, N-1 keeps one
   * worker free for the other shards whatever one shard's reconciles cost.
   */
  maxActivePerShard?: number;
}

const namespaceOf = (key: string): string => {
  const slash = key.indexOf("/");
  return slash < 0 ? "" : key.slice(0, slash);
};

export class WorkQueue<K extends string = string> {
  /** Queued keys per shard, in arrival order. */
  private readonly shards = new Map<string, K[]>();
  /** Shards with queued keys, in round-robin order (the head is served next). */
  private readonly rotation: string[] = [];
  private readonly queued = new Set<K>();
  private readonly processing = new Set<K>();
  /** Keys being processed per shard. */
  private readonly active = new Map<string, number>();
  private readonly dirty = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly timers = new Map<K, NodeJS.Timeout>();
  private readonly waiters: ((key: K | undefined) => void)[] = [];
  private readonly shardOf: (key: string) => string;
  private size = 0;
  private shuttingDown = false;

  constructor(private readonly options: WorkQueueOptions = {}) {
    this.shardOf = options.shardOf ?? namespaceOf;
  }

  add(key: K): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    const shard = this.shardOf(key);
    let keys = this.shards.get(shard);
    if (!keys) {
      keys = [];
      this.shards.set(shard, keys);
      this.rotation.push(shard);
    }
    keys.push(key);
    this.size++;
    this.dispatch();
  }

  /** Re-queues after `delayMs`; a later `add` makes it run sooner. */
  addAfter(key: K, delayMs: number): void {
    if (this.shuttingDown) return;
    clearTimeout(this.timers.get(key));
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, timer);
  }

  /** Re-queues after this key's next backoff step (base * 2^failures, capped). */
  addRateLimited(key: K): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    const delay = Math.min((this.options.baseDelayMs ?? 5) * 2 ** failures, this.options.maxDelayMs ?? 300_000);
    this.addAfter(key, delay);
    return delay;
  }

  forget(key: K): void {
    this.failures.delete(key);
  }

  /** The next key to process; resolves `undefined` once the queue shuts down. */
  get(): Promise<K | undefined> {
    const key = this.take();
    if (key !== undefined) return Promise.resolve(key);
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: K): void {
    if (!this.processing.delete(key)) return;
    const shard = this.shardOf(key);
    const active = (this.active.get(shard) ?? 1) - 1;
    if (active > 0) this.active.set(shard, active);
    else this.active.delete(shard);
    if (this.dirty.delete(key)) this.add(key);
    else this.dispatch();
  }

  /** Keys waiting (not being processed). */
  get length(): number {
    return this.size;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  /** Hands queued keys to waiting workers. */
  private dispatch(): void {
    while (this.waiters.length > 0) {
      const key = this.take();
      if (key === undefined) return;
      this.waiters.shift()!(key);
    }
  }

  /**
   * The next key: from the first shard in the rotation with nothing in progress, else (every
   * shard with queued keys is busy) from the first one below its cap. The shard served goes to
   * the back of the rotation.
   */
  private take(): K | undefined {
    if (this.rotation.length === 0) return undefined;
    let index = this.rotation.findIndex((shard) => !this.active.has(shard));
    if (index < 0) {
      const cap = this.options.maxActivePerShard ?? Infinity;
      index = this.rotation.findIndex((shard) => (this.active.get(shard) ?? 0) < cap);
      if (index < 0) return undefined; // every waiting shard is at its cap: wait for a done()
    }
    const shard = this.rotation[index]!;
    const keys = this.shards.get(shard)!;
    const key = keys.shift()!;
    this.rotation.splice(index, 1);
    if (keys.length > 0) this.rotation.push(shard);
    else this.shards.delete(shard);
    this.size--;
    this.queued.delete(key);
    this.processing.add(key);
    this.active.set(shard, (this.active.get(shard) ?? 0) + 1);
    return key;
  }
}
