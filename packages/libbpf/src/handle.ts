/** Shared plumbing for fd-owning handles. Internal. */
import { ClosedError } from "./errors.js";
import type { NativeFd } from "./native.js";

/** Owns a NativeFd and turns use-after-close into ClosedError. */
export class FdOwner {
  #handle: NativeFd | undefined;
  readonly label: string;

  constructor(handle: NativeFd, label: string) {
    this.#handle = handle;
    this.label = label;
  }

  get closed(): boolean {
    return this.#handle === undefined;
  }

  /** The live native handle; throws ClosedError after close(). */
  get handle(): NativeFd {
    if (this.#handle === undefined) throw new ClosedError(this.label);
    return this.#handle;
  }

  /** Throws ClosedError after close(). */
  check(): void {
    if (this.#handle === undefined) throw new ClosedError(this.label);
  }

  /** The live descriptor; throws ClosedError after close(). */
  get fd(): number {
    return this.handle.fd;
  }

  close(): void {
    const h = this.#handle;
    this.#handle = undefined;
    h?.close();
  }
}

export function checkPath(path: unknown, what: string): asserts path is string {
  if (typeof path !== "string" || path === "") {
    throw new TypeError(`${what}: expected a non-empty path string, got ${JSON.stringify(path)}`);
  }
}

export function checkUint(value: unknown, what: string, max = 0xffffffff): asserts value is number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${what}: expected an integer in [0, ${max}], got ${String(value)}`);
  }
}
