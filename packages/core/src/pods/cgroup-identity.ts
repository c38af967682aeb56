/**
 * Cgroup id -> the pod it belongs to (`namespace`, `pod`), for labelling a node-scoped
 * program's keys (the `cgroup_namespace`, `cgroup_pod` decoders). Built from the two
 * sources pod scope trusts: the kernel's cgroup tree (pod-cgroups.ts: the pod's cgroup and its
 * containers', by id) and the API server's pods on this node (pod-source.ts: names by UID). A
 * cgroup whose UID the API server does not list for this node is not labelled.
 *
 * Lookups are synchronous (a scrape decodes keys in bounded steps and cannot wait for a walk).
 * An id not known is remembered in a negative cache, bounded in size (oldest first out) and
 * with a time-to-live, and asks for a rescan (at most one per `rescanIntervalMs`): a program
 * that sees 10,000 short-lived cgroups makes at most `negativeMax` entries, never unbounded
 * memory or series. Known ids are bounded by the node's pods and their containers. Used by the
 * `cgroup_namespace` / `cgroup_pod` decoders (decoders/cgroup-pod.ts, wired in agent/pod-labels.ts).
 */
import type { PodCgroupScan } from "./pod-cgroups.js";
import type { PodSource } from "./pod-source.js";

export interface CgroupIdentity {
  namespace: string;
  pod: string;
  /** The pod's UID (the cgroup path's). */
  uid: string;
  /** The container's runtime id when the cgroup is a container's (names need the pod's status). */
  containerId?: string;
  /** The container's name, when the cgroup is a container's and the pod source knows its status (`PodSource.containers`). */
  container?: string;
}

export interface CgroupIdentityOptions {
  scan: (wanted: Iterable<string>) => Promise<PodCgroupScan>;
  pods: PodSource;
  /** Unknown ids remembered at most (default 4096). */
  negativeMax?: number;
  /** How long an unknown id stays unknown before it is looked up again (default 30 s). */
  negativeTtlMs?: number;
  /** Least time between two rescans asked for by unknown ids (default 2 s). */
  rescanIntervalMs?: number;
  now?: () => number;
}

export class CgroupIdentities {
  private known = new Map<bigint, CgroupIdentity>();
  /** Unknown id -> when it expires; a Map iterates in insertion order, so the first is the oldest. */
  private readonly unknown = new Map<bigint, number>();
  private lastRescan = Number.NEGATIVE_INFINITY;
  private rescanning: Promise<void> | undefined;
  /** Rescans run so far (tests, self-observability). */
  rescans = 0;

  constructor(private readonly options: CgroupIdentityOptions) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** The identity of a cgroup id, or undefined (then remembered as unknown, and a rescan asked for). */
  lookup(id: bigint): CgroupIdentity | undefined {
    const hit = this.known.get(id);
    if (hit) return hit;
    const now = this.now();
    const expires = this.unknown.get(id);
    if (expires !== undefined && expires > now) return undefined;
    this.unknown.delete(id); // re-inserted last: the newest
    this.unknown.set(id, now + (this.options.negativeTtlMs ?? 30_000));
    const max = this.options.negativeMax ?? 4096;
    while (this.unknown.size > max) this.unknown.delete(this.unknown.keys().next().value!);
    if (now - this.lastRescan >= this.rescanIntervalMs) void this.refresh().catch(() => undefined); // a failed scan keeps the last table
    return undefined;
  }

  private get rescanIntervalMs(): number {
    return this.options.rescanIntervalMs ?? 2_000;
  }

  private soon: NodeJS.Timeout | undefined;

  /**
   * Pod churn (the pod source changed): a refresh now, or as soon as the rescan interval allows;
   * a burst of changes makes one pending refresh, not one scan each.
   */
  refreshSoon(): void {
    if (this.soon) return;
    const wait = Math.max(0, this.lastRescan + this.rescanIntervalMs - this.now());
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.refresh().catch(() => undefined);
    }, wait);
    this.soon.unref();
  }

  /** Cancels a pending refreshSoon (the agent is stopping). */
  close(): void {
    clearTimeout(this.soon);
    this.soon = undefined;
  }

  /** Rebuilds the known ids from a scan and the pod source (also on pod churn). Concurrent calls share one scan. */
  refresh(): Promise<void> {
    this.rescanning ??= this.rebuild().finally(() => (this.rescanning = undefined));
    return this.rescanning;
  }

  /** Sizes, for tests and the agent's own metrics. */
  get sizes(): { known: number; unknown: number } {
    return { known: this.known.size, unknown: this.unknown.size };
  }

  private async rebuild(): Promise<void> {
    this.lastRescan = this.now();
    this.rescans++;
    const pods = this.options.pods.pods();
    const scan = await this.options.scan(pods.map((p) => p.uid));
    const known = new Map<bigint, CgroupIdentity>();
    for (const pod of pods) {
      const cgroup = scan.pods.get(pod.uid);
      if (!cgroup) continue;
      const base = { namespace: pod.namespace, pod: pod.name, uid: pod.uid };
      known.set(cgroup.id, base);
      // Container names: only once the source follows the pods' statuses (the cgroup_container decoder asked).
      const names = new Map((this.options.pods.containers?.(pod.uid) ?? []).map((c) => [c.id, c.name]));
      for (const container of cgroup.containers) {
        const name = container.conmon ? undefined : names.get(container.containerId);
        known.set(container.id, { ...base, containerId: container.containerId, ...(name !== undefined ? { container: name } : {}) });
      }
    }
    this.known = known;
    for (const id of known.keys()) this.unknown.delete(id);
  }
}
