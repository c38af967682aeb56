/**
 * Fair queueing of compiles across tenants (namespaces): at most `slots` run at once. When a slot
 * frees, the waiting tenant served longest ago (or never) goes next among those running fewer
 * than `perTenant`, so a tenant that submits many slow compiles delays itself, not the others:
 * another tenant's compile waits at most for one running compile to finish.
 *
 * Work-conserving: a slot no tenant under its `perTenant` share is waiting for goes to a tenant
 * above it (again the one served longest ago) instead of staying idle, so a lone tenant's backlog
 * uses every slot. Such a borrowed slot is given back at once: when a tenant under its share
 * waits and no slot is free, the latest-started task above its tenant's share is aborted (its
 * signal; the compiler kills clang's process group) and queued again at the head of its tenant's
 * queue, and the freed slot goes to the waiting tenant. So another tenant never waits for a
 * borrowed slot, as it never waited when the cap was hard; only the borrowed work is redone.
 * With the hard cap a single namespace with 1,000 programs compiled one at a time while the
 * second slot stayed idle (docs/benchmarks.md, section 4).
 */

interface Job {
  start: () => void;
  enqueuedAt: number;
}

interface Started {
  tenant: string;
  controller: AbortController;
}

export class FairScheduler {
  readonly #waiting = new Map<string, Job[]>();
  readonly #running = new Map<string, number>();
  /** When each tenant with work was last served (a counter); absent: never, or not since it went idle. */
  readonly #served = new Map<string, number>();
  #serves = 0;
  #active = 0;
  /** Running tasks in start order (the latest is preempted first). */
  readonly #started: Started[] = [];
  #preemptions = 0;

  constructor(
    readonly slots: number,
    readonly perTenant: number,
    /** `false`: `perTenant` is a hard cap (for tasks that cannot be preempted, e.g. requests to a remote compiler). */
    readonly workConserving = true,
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

  /** Tasks aborted to give a borrowed slot back (each ran again later). */
  get preemptions(): number {
    return this.#preemptions;
  }

  /**
   * Runs `task` when its turn comes; `task` receives how long it waited (ms, since run() was
   * called) and a signal aborted when its slot is taken back: a task that then rejects with the
   * signal's reason (`signal.throwIfAborted()`) is run again later; one that resolves, or fails
   * for a reason of its own, keeps its outcome.
   */
  run<T>(tenant: string, task: (waitedMs: number, signal: AbortSignal) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const enqueuedAt = performance.now();
      const job: Job = {
        enqueuedAt,
        start: () => {
          const started: Started = { tenant, controller: new AbortController() };
          this.#started.push(started);
          const waited = performance.now() - enqueuedAt;
          let result: Promise<T>;
          try {
            result = task(waited, started.controller.signal);
          } catch (error) {
            result = Promise.reject(error);
          }
          result.then(
            (value) => {
              this.#release(started);
              resolve(value);
            },
            (error: unknown) => {
              // Preempted (it failed with the signal's reason): back to the head of its tenant's
              // queue, before the slot is handed on. Any other failure is the task's own.
              const preempted = started.controller.signal.aborted && error === started.controller.signal.reason;
              if (preempted) this.#enqueue(tenant, job, true);
              this.#release(started);
              if (!preempted) reject(error);
            },
          );
        },
      };
      this.#enqueue(tenant, job, false);
      this.#dispatch();
    });
  }

  #enqueue(tenant: string, job: Job, front: boolean): void {
    const jobs = this.#waiting.get(tenant);
    if (!jobs) this.#waiting.set(tenant, [job]);
    else if (front) jobs.unshift(job);
    else jobs.push(job);
  }

  #release(started: Started): void {
    const { tenant } = started;
    this.#started.splice(this.#started.indexOf(started), 1);
    this.#active -= 1;
    const left = (this.#running.get(tenant) ?? 1) - 1;
    if (left > 0) this.#running.set(tenant, left);
    else {
      this.#running.delete(tenant);
      if (!this.#waiting.has(tenant)) this.#served.delete(tenant);
    }
    this.#dispatch();
  }

  /** The waiting tenant served longest ago, among those under their share first, then among all. */
  #next(): string | undefined {
    for (const underShare of this.workConserving ? [true, false] : [true]) {
      // Map order is arrival order, which breaks ties between tenants never served.
      let tenant: string | undefined;
      let oldest = Infinity;
      for (const candidate of this.#waiting.keys()) {
        if (underShare && (this.#running.get(candidate) ?? 0) >= this.perTenant) continue;
        const served = this.#served.get(candidate) ?? -1;
        if (served < oldest) {
          oldest = served;
          tenant = candidate;
        }
      }
      if (tenant !== undefined) return tenant;
    }
    return undefined;
  }

  #dispatch(): void {
    while (this.#active < this.slots) {
      const tenant = this.#next();
      if (tenant === undefined) return;
      const jobs = this.#waiting.get(tenant) as Job[];
      const job = jobs.shift() as Job;
      if (jobs.length === 0) this.#waiting.delete(tenant);
      this.#served.set(tenant, this.#serves++);
      this.#active += 1;
      this.#running.set(tenant, (this.#running.get(tenant) ?? 0) + 1);
      job.start();
    }
    this.#preempt();
  }

  /** No slot free: take borrowed slots back for the waiting tenants under their share. */
  #preempt(): void {
    const live = new Map<string, number>(); // running and not yet aborted, per tenant
    let aborting = 0;
    for (const s of this.#started) {
      if (s.controller.signal.aborted) aborting += 1;
      else live.set(s.tenant, (live.get(s.tenant) ?? 0) + 1);
    }
    let wanting = 0;
    for (const tenant of this.#waiting.keys()) if ((this.#running.get(tenant) ?? 0) < this.perTenant) wanting += 1;
    for (let i = this.#started.length - 1; i >= 0 && aborting < wanting; i--) {
      const s = this.#started[i] as Started;
      if (s.controller.signal.aborted || (live.get(s.tenant) ?? 0) <= this.perTenant) continue;
      live.set(s.tenant, (live.get(s.tenant) ?? 0) - 1);
      aborting += 1;
      this.#preemptions += 1;
      s.controller.abort(new Error("preempted: the slot goes back to a tenant under its share"));
    }
  }
}
