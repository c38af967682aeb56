/**
 * Pod scope (`spec.selector`) in the agent: which pods a pod-scoped resource runs for on this
 * node, and where their cgroups are. The pods come from a `PodSource` (cluster mode: the node's
 * metadata-only pod informer; standalone: none), their cgroups from the kernel's tree
 * (pods/pod-cgroups.ts, root-owned cgroups only). The agent attaches the resource's program to
 * each selected pod's cgroup (ProgramLoader.attachPod), detaches it from pods that went, and
 * builds the resource's cgroup id -> pod table that its `pod` label decodes with.
 */
import type { PodSource } from "../pods/pod-source.js";
import { PodCgroupIndex, type ContainerCgroup, type CgroupRef, type PodCgroup, type PodCgroupScan } from "../pods/pod-cgroups.js";
import { findCgroup2MountInfo } from "../pods/cgroup-mount.js";
import { openPodNetns, type PodNetnsLookup } from "../pods/pod-netns.js";
import { StaticPodSource } from "../pods/pod-source.js";
import { selectPods, type PodSelector } from "../pods/selector.js";
import { CONTAINER_DECODER } from "../decoders/container.js";
import type { EbpfMapSpec } from "../api/schema.js";

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
  /** `spec.selector.container`: the named container's cgroup, which is then what is attached to (target). */
  container?: { name: string; cgroup: ContainerCgroup };
}

/** The cgroup a pod-scoped resource attaches to (or lets through its gate) for a pod: the named container's, else the pod's. */
export function targetCgroup(pod: ScopedPod): CgroupRef {
  return pod.container?.cgroup ?? pod.cgroup;
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
    if (!cgroup || cgroup.path === "/") {
      unplaced?.push({ name: pod.name, reason: unplacedReason(scan, pod.uid) });
      continue;
    }
    const scoped: ScopedPod = { uid: pod.uid, namespace: pod.namespace, name: pod.name, cgroup };
    if (selector.container !== undefined) {
      const found = namedContainer(deps.source, cgroup, selector.container);
      if (typeof found === "string") {
        unplaced?.push({ name: pod.name, reason: found });
        continue;
      }
      scoped.container = { name: selector.container, cgroup: found };
    }
    out.push(scoped);
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

/**
 * `spec.selector.container`: the cgroup of the pod's running container of that name — the pod's
 * status gives its runtime id, the kernel's tree the directory named after that id below the
 * pod's cgroup (any runtime's layout: the id is matched, as the pod's UID is) — or why not.
 */
function namedContainer(source: PodSource, cgroup: PodCgroup, name: string): ContainerCgroup | string {
  const status = source.containers?.(cgroup.podUid)?.find((c) => c.name === name);
  if (!status)
    return `spec.selector.container: the pod's status names no running container "${name}" (not started yet, restarting, or no such container in the pod)`;
  const found = cgroup.containers.find((c) => c.containerId === status.id && !c.conmon);
  if (!found)
    return `spec.selector.container: no root-owned cgroup named after container "${name}" (id ${status.id.slice(0, 12)}) below the pod's cgroup ${cgroup.path} (starting, or its runtime keeps containers out of the cgroup v2 hierarchy)`;
  return found;
}

/** Whether a resource needs the pods' container names: `selector.container`, or a label decoded by `container`. */
export function needsContainerNames(spec: Pick<EbpfMapSpec, "selector" | "metrics">): boolean {
  if (spec.selector?.container !== undefined) return true;
  return (spec.metrics ?? []).some((m) => (m.labels ?? []).some((l) => (l.decoders ?? []).some((d) => d.name === CONTAINER_DECODER)));
}

/**
 * The attached containers' cgroup ids -> container names, which the `container` decoder reads:
 * the named container's only (`selector.container`), else every container of the pod whose id
 * the pod's status names (the sandbox's and conmon's have no name: their rows are dropped).
 */
export function containerIdTable(source: PodSource, pods: readonly ScopedPod[]): Map<bigint, string> {
  const ids = new Map<bigint, string>();
  for (const pod of pods) {
    if (pod.container) {
      ids.set(pod.container.cgroup.id, pod.container.name);
      continue;
    }
    const names = new Map((source.containers?.(pod.uid) ?? []).map((c) => [c.id, c.name]));
    for (const container of pod.cgroup.containers) {
      const name = container.conmon ? undefined : names.get(container.containerId);
      if (name !== undefined) ids.set(container.id, name);
    }
  }
  return ids;
}

/** The cgroup ids of the pods (each pod's own and its containers'; the named container's only with `selector.container`) -> the pod's name. */
export function podIdTable(pods: readonly ScopedPod[]): Map<bigint, string> {
  const ids = new Map<bigint, string>();
  for (const pod of pods) {
    if (pod.container) {
      ids.set(pod.container.cgroup.id, pod.name);
      continue;
    }
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
