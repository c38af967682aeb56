import { checkPath, FdOwner } from "./handle.js";
import { native } from "./native.js";
import type { NativeFd } from "./native.js";
import type { LinkInfo } from "./types.js";

let construct: (handle: NativeFd, label: string) => BpfLink;

/**
 * An attachment of a program to a hook (tracepoint, XDP interface, cgroup, ...), held by a
 * BPF link file descriptor. Requires kernel 5.7+ (cgroup/XDP links), 5.15+ for perf-event links
 * (tracepoint, kprobe, uprobe).
 *
 * The handle owns its fd. The attachment lives as long as any reference to the link does: this
 * fd, a pin in bpffs or a dup in another process. `close()` releases only this fd — a pinned
 * link stays attached — while `detach()` detaches the program for every holder at once.
 * An unreachable, unclosed handle is closed when garbage collected, which detaches an unpinned
 * link: keep a reference for as long as the program should stay attached.
 */
export class BpfLink implements Disposable {
  readonly #owner: FdOwner;

  private constructor(handle: NativeFd, label: string) {
    this.#owner = new FdOwner(handle, label);
  }

  static {
    construct = (handle, label) => new BpfLink(handle, label);
  }

  /**
   * Opens a link pinned in bpffs (`bpf_obj_get`). The returned handle owns a new fd; the pin is
   * left in place.
   */
  static openPinned(path: string): BpfLink {
    checkPath(path, "BpfLink.openPinned");
    const handle = native().objGet(path);
    const type = native().objType(handle.fd);
    if (type !== "link") {
      handle.close();
      throw new TypeError(`BpfLink.openPinned: ${path} is a pinned ${type}, not a link`);
    }
    return new BpfLink(handle, `BpfLink pinned at ${path}`);
  }

  /** The link's file descriptor, owned by this handle. Throws ClosedError once closed. */
  get fd(): number {
    return this.#owner.fd;
  }

  /** What the kernel reports about the link: id, type and the attached program's id. */
  info(): LinkInfo {
    return native().linkInfo(this.#owner.fd);
  }

  /**
   * Pins the link at `path` in bpffs (`bpf_obj_pin`). The pin keeps the program attached after
   * this process exits; remove it with `unpin` (or `rm`) to let the link go.
   */
  pin(path: string): void {
    checkPath(path, "BpfLink.pin");
    native().objPin(this.#owner.fd, path);
  }

  /** Removes a pin (unlink). A missing pin is not an error. Works on a closed handle too. */
  unpin(path: string): void {
    checkPath(path, "BpfLink.unpin");
    native().unpin(path);
  }

  /**
   * Detaches the program from its hook (`bpf_link_detach`, kernel 5.9+), even if the link is
   * pinned or held elsewhere. The fd stays open (and must still be closed) but is defunct.
   * Only link types with a kernel detach operation support this (cgroup, XDP, netns, tcx, ...);
   * `perf_event` (tracepoint, kprobe, uprobe) and `raw_tracepoint` links throw EOPNOTSUPP —
   * unpin them and close every fd instead.
   */
  detach(): void {
    native().linkDetach(this.#owner.fd);
  }

  /** Closes this handle's fd. Idempotent. A pinned link stays attached. */
  close(): void {
    this.#owner.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** @internal Wraps a native link handle. */
export function wrapLink(handle: NativeFd, label: string): BpfLink {
  return construct(handle, label);
}
