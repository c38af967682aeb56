/**
 * Pod scope (`spec.selector`) in the agent: which pods a pod-scoped resource runs for on this
 * node, and where their cgroups are. The pods come from a `PodSource` (cluster mode: the node's
 * metadata-only pod informer; standalone: none), their cgroups from the kernel's tree
 * (pods/pod-cgroups.ts, root-owned cgroups only). The agent attaches the resource's program to
 * each selected pod's cgroup (ProgramLoader.attachPod), detaches it from pods that went, and
 * builds the resource's cgroup id -> pod table that its `pod` label decodes with.
 */
import type { PodSource } from "../pods/pod-source.js";
import { PodCgroupIndex, type PodCgroup, type PodCgroupScan } from "../pods/pod-cgroups.js";
import { findCgroup2MountInfo } from "../pods/cgroup-mount.js";
import { openPodNetns, type PodNetnsLookup } from "../pods/pod-netns.js";
import { StaticPodSource } from "../pods/pod-source.js";
import { selectPods, type PodSelector } from "../pods/selector.js";

export interface PodScopeDependencies {
  /** The pods on this node (names, UIDs, labels). */
  source: PodSource;
  /** The pods' cgroups by UID (`PodCgroupIndex.scan`). */
  scan(wanted: Iterable<string>): Promise<PodCgroupScan>;
  /** How often pod-scoped resources are checked against the pods and cgroups, besides on pod changes (default 2 s). */
  intervalMs?: number;
  /** False in cluster mode (pods from the API server); otherwise status messages say there are no pods to select. */
  standalone?: boolean;
  /** A pod's network namespace, opened (default `openPodNetns`: its earliest process's, from /proc). */
  netns?(pod: ScopedPod): Promise<PodNetnsLookup>;
}

/** A selected pod whose cgroup was found. */
export interface ScopedPod {
  uid: string;
  namespace: string;
  name: string;
  cgroup: PodCgroup;
}

/** A selected pod of this node that pod scope cannot place in the cgroup v2 tree, and why (for the resource's status). */
export interface UnplacedPod {
  name: string;
  reason: string;
}

/**
 * The pods of `namespace` that `selector` selects and whose cgroup is on this node. Never another
 * namespace's pods (selectPods), never a pod being deleted. Selected pods whose cgroup is not
 * found (or found twice) are added to `unplaced`, when given, with the reason.
 */
export async function scopedPods(deps: PodScopeDependencies, namespace: string, selector: PodSelector, unplaced?: UnplacedPod[]): Promise<ScopedPod[]> {
  const selected = selectPods(deps.source.pods(), namespace, selector);
  if (selected.length === 0) return [];
  const scan = await deps.scan(selected.map((p) => p.uid));
  const out: ScopedPod[] = [];
  for (const pod of selected) {
    const cgroup = scan.pods.get(pod.uid);
    if (cgroup && cgroup.path !== "/") out.push({ uid: pod.uid, namespace: pod.namespace, name: pod.name, cgroup });
    else unplaced?.push({ name: pod.name, reason: unplacedReason(scan, pod.uid) });
  }
  unplaced?.sort((a, b) => a.name.localeCompare(b.name));
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

function unplacedReason(scan: PodCgroupScan, uid: string): string {
  if (scan.noCgroup2) return "this node has no cgroup v2 hierarchy (cgroup v1 only), and pod scope attaches to cgroup v2";
  const places = scan.ambiguous.get(uid);
  if (places) return `its UID names cgroups in ${places.length} places (${places.join(", ")}): which one is the kubelet's cannot be told`;
  return `no root-owned cgroup v2 directory named after its UID (pod${uid}): not started yet, finished, or its runtime keeps containers out of the cgroup v2 hierarchy`;
}

/** The cgroup ids of the pods (each pod's own and its containers') -> the pod's name. */
export function podIdTable(pods: readonly ScopedPod[]): Map<bigint, string> {
  const ids = new Map<bigint, string>();
  for (const pod of pods) {
    ids.set(pod.cgroup.id, pod.name);
    for (const container of pod.cgroup.containers) ids.set(container.id, pod.name);
  }
  return ids;
}

/**
 * The default: no pods (the standalone agent has no API server), and the kernel's cgroup tree
 * walked on first use. A pod-scoped resource then runs attached to no pod and serves no series.
 */
export function defaultPodScope(source: PodSource = new StaticPodSource()): PodScopeDependencies {
  let index: Promise<PodCgroupIndex | undefined> | undefined;
  return {
    source,
    async scan(wanted) {
      index ??= findCgroup2MountInfo().then((mount) => (mount ? new PodCgroupIndex(mount) : undefined));
      const found = await index;
      return found ? found.scan(wanted) : { pods: new Map(), ambiguous: new Map(), noCgroup2: true };
    },
  };
}

/**
 * The pod's own network namespace, open, for types that attach to a pod's interfaces; a pod on
 * the node's network (hostNetwork) or without a visible process is said to be, never opened.
 */
export function podNetnsOf(deps: PodScopeDependencies | undefined, pod: ScopedPod): Promise<PodNetnsLookup> {
  if (deps?.netns) return deps.netns(pod);
  return openPodNetns(pod.cgroup.directory, pod.cgroup.path);
}
