/**
 * Compiles run beside the reconcile loop, not inside it. A reconcile that needs an object starts
 * the compile (and publish) and returns; when it settles, the resource is queued again and the
 * next reconcile takes the outcome. So a namespace whose compiles wait in the compiler's fair
 * queue (or run into their time limit) holds no worker, and other namespaces' resources keep
 * being reconciled.
 *
 * The last outcome per resource is remembered by its code's hash: a program that failed to
 * compile is not compiled again (a compile bomb would otherwise run on every reconcile) until its
 * code changes. Transient errors (the compile server unreachable) are forgotten, so they retry.
 */
import { createHash } from "node:crypto";

export type CompileOutcome<T> = { ok: true; value: T } | { ok: false; error: unknown; keep: boolean };

interface Entry<T> {
  codeHash: string;
  outcome?: CompileOutcome<T>;
}

export class CompileTracker<T> {
  readonly #entries = new Map<string, Entry<T>>();

  constructor(
    /** Called with the resource key when a compile settles. */
    private readonly settled: (key: string) => void,
    /** Whether a failure is the program's (remembered) or transient (retried). */
    private readonly isTerminal: (error: unknown) => boolean,
  ) {}

  /**
   * The outcome for this resource's current code, or undefined while it is being compiled (the
   * compile is started here if it is not running yet). A success is handed out once.
   */
  poll(key: string, code: string, run: () => Promise<T>): CompileOutcome<T> | undefined {
    const codeHash = createHash("sha256").update(code).digest("hex");
    const entry = this.#entries.get(key);
    if (entry?.codeHash === codeHash) {
      const outcome = entry.outcome;
      if (outcome === undefined) return undefined;
      if (outcome.ok || !outcome.keep) this.#entries.delete(key);
      return outcome;
    }
    const fresh: Entry<T> = { codeHash };
    this.#entries.set(key, fresh);
    run()
      .then(
        (value) => {
          fresh.outcome = { ok: true, value };
        },
        (error: unknown) => {
          fresh.outcome = { ok: false, error, keep: this.isTerminal(error) };
        },
      )
      .finally(() => {
        // Only if this compile is still the one for the resource (its code did not change meanwhile).
        if (this.#entries.get(key) === fresh) this.settled(key);
      });
    return undefined;
  }

  /** The resource is gone. */
  forget(key: string): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
