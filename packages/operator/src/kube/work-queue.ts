/**
 * A rate-limited work queue with controller-runtime's semantics, hand-written because
 * client-node has none:
 *   - a key is queued at most once (adding a queued key is a no-op);
 *   - a key being processed is never handed out again until `done` — adding it meanwhile marks
 *     it dirty, and it is re-queued when the current run ends (no two reconciles of one object
 *     run at once);
 *   - `addRateLimited` re-queues after a per-key exponential backoff (`forget` resets it).
 */
export interface WorkQueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export class WorkQueue<K extends string = string> {
  private readonly queue: K[] = [];
  private readonly queued = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly dirty = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly timers = new Map<K, NodeJS.Timeout>();
  private readonly waiters: ((key: K | undefined) => void)[] = [];
  private shuttingDown = false;

  constructor(private readonly options: WorkQueueOptions = {}) {}

  add(key: K): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queued.add(key);
    this.queue.push(key);
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
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: K): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  get length(): number {
    return this.queue.length;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }
}
