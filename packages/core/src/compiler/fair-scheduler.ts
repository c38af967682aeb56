/**
 * Fair queueing of compiles across tenants (namespaces): at most `slots` run at once and at most
 * `perTenant` of one tenant. When a slot frees, the waiting tenant served longest ago (or never)
 * goes next, so a tenant that submits many slow compiles delays itself, not the others: another
 * tenant's compile waits at most for one running compile to finish.
 */

interface Job {
  start: () => void;
  enqueuedAt: number;
}

export class FairScheduler {
  readonly #waiting = new Map<string, Job[]>();
  readonly #running = new Map<string, number>();
  /** When each tenant with work was last served (a counter); absent: never, or not since it went idle. */
  readonly #served = new Map<string, number>();
  #serves = 0;
  #active = 0;

  constructor(
    readonly slots: number,
    readonly perTenant: number,
  ) {
    for (const [name, v] of [
      ["slots", slots],
      ["perTenant", perTenant],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`FairScheduler: ${name} must be a positive integer, got ${v}`);
    }
  }

  get running(): number {
    return this.#active;
  }

  get queued(): number {
    let n = 0;
    for (const jobs of this.#waiting.values()) n += jobs.length;
    return n;
  }

  /** Runs `task` when its turn comes; `task` receives how long it waited, in ms. */
  run<T>(tenant: string, task: (waitedMs: number) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const enqueuedAt = performance.now();
      const job: Job = {
        enqueuedAt,
        start: () => {
          const waited = performance.now() - enqueuedAt;
          let result: Promise<T>;
          try {
            result = task(waited);
          } catch (error) {
            result = Promise.reject(error);
          }
          result.then(resolve, reject).finally(() => this.#release(tenant));
        },
      };
      const jobs = this.#waiting.get(tenant);
      if (jobs) jobs.push(job);
      else this.#waiting.set(tenant, [job]);
      this.#dispatch();
    });
  }

  #release(tenant: string): void {
    this.#active -= 1;
    const left = (this.#running.get(tenant) ?? 1) - 1;
    if (left > 0) this.#running.set(tenant, left);
    else {
      this.#running.delete(tenant);
      if (!this.#waiting.has(tenant)) this.#served.delete(tenant);
    }
    this.#dispatch();
  }

  #dispatch(): void {
    while (this.#active < this.slots) {
      // Map order is arrival order, which breaks ties between tenants never served.
      let tenant: string | undefined;
      let oldest = Infinity;
      for (const candidate of this.#waiting.keys()) {
        if ((this.#running.get(candidate) ?? 0) >= this.perTenant) continue;
        const served = this.#served.get(candidate) ?? -1;
        if (served < oldest) {
          oldest = served;
          tenant = candidate;
        }
      }
      if (tenant === undefined) return;
      const jobs = this.#waiting.get(tenant) as Job[];
      const job = jobs.shift() as Job;
      if (jobs.length === 0) this.#waiting.delete(tenant);
      this.#served.set(tenant, this.#serves++);
      this.#active += 1;
      this.#running.set(tenant, (this.#running.get(tenant) ?? 0) + 1);
      job.start();
    }
  }
}
