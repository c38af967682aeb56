/**
 * The pods on this node, as the agent knows them from the API server (cluster mode: a
 * metadata-only informer restricted to the node by a `spec.nodeName` field selector, in the
 * operator package). Only metadata is kept (`PodInfo`, a few hundred bytes a pod): what pod
 * scope and pod labels need, and what a node of a large cluster can hold. Where a pod's cgroup
 * and network namespace are comes from the kernel (pod-cgroups.ts, pod-netns.ts), not from here.
 */

export interface PodInfo {
  uid: string;
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  /** Set once the API server has a deletion timestamp: the pod is going. */
  deleting: boolean;
}

/**
 * One running container of a pod, as the pod's `status.containerStatuses[]` names it: the name
 * from the pod's spec and the runtime's id of the instance running now (a restart brings a new
 * id). The id is what the container's cgroup directory is named after (pods/cgroup-layout.ts).
 */
export interface PodContainer {
  name: string;
  /** The runtime's container id (64 hex digits), without the `containerd://` / `cri-o://` prefix. */
  id: string;
}

export interface PodSource {
  /** Every pod on this node now. */
  pods(): readonly PodInfo[];
  /** The pod with this UID, if it is on this node. */
  pod(uid: string): PodInfo | undefined;
  /** Called (without arguments) whenever a pod was added, changed or removed (or, once watched, its containers). */
  onChange(listener: () => void): void;
  /**
   * The pod's running containers (names and runtime ids), once `watchContainers` was called;
   * undefined when not known (yet). Absent: this source knows no container names.
   */
  containers?(uid: string): readonly PodContainer[] | undefined;
  /**
   * Starts following the pods' container statuses (cluster mode: a second node-local watch of
   * whole pods, docs/architecture.md), on first use only: nodes where no resource names a
   * container never pay for it. Idempotent.
   */
  watchContainers?(): void;
}

/**
 * A pod source held in memory: the standalone agent has no API server, and tests that lay out
 * a node's cgroups and network namespaces themselves say with it which pods "the API server"
 * has on the node.
 */
export class StaticPodSource implements PodSource {
  private readonly byUid = new Map<string, PodInfo>();
  private readonly containersByUid = new Map<string, readonly PodContainer[]>();
  private readonly listeners: (() => void)[] = [];
  /** Whether `watchContainers` was called (tests: proof the agent asks only when a resource needs names). */
  watchingContainers = false;

  constructor(pods: readonly PodInfo[] = []) {
    for (const pod of pods) this.byUid.set(pod.uid, pod);
  }

  pods(): readonly PodInfo[] {
    return [...this.byUid.values()];
  }

  pod(uid: string): PodInfo | undefined {
    return this.byUid.get(uid);
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  set(pod: PodInfo): void {
    this.byUid.set(pod.uid, pod);
    this.emit();
  }

  delete(uid: string): void {
    this.containersByUid.delete(uid);
    if (this.byUid.delete(uid)) this.emit();
  }

  containers(uid: string): readonly PodContainer[] | undefined {
    return this.containersByUid.get(uid);
  }

  watchContainers(): void {
    this.watchingContainers = true;
  }

  /** Sets a pod's running containers, as the kubelet writes them to its status (a restart: a new id). */
  setContainers(uid: string, containers: readonly PodContainer[]): void {
    this.containersByUid.set(uid, containers);
    this.emit();
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}
