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

export interface PodSource {
  /** Every pod on this node now. */
  pods(): readonly PodInfo[];
  /** The pod with this UID, if it is on this node. */
  pod(uid: string): PodInfo | undefined;
  /** Called (without arguments) whenever a pod was added, changed or removed. */
  onChange(listener: () => void): void;
}

/**
 * A pod source held in memory: the standalone agent has no API server, and tests that lay out
 * a node's cgroups and network namespaces themselves say with it which pods "the API server"
 * has on the node.
 */
export class StaticPodSource implements PodSource {
  private readonly byUid = new Map<string, PodInfo>();
  private readonly listeners: (() => void)[] = [];

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
    if (this.byUid.delete(uid)) this.emit();
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}
