/**
 * The pods of this node, for pod scope and pod labels: a metadata-only informer over pods with
 * the `spec.nodeName=<node>` field selector, so the agent holds its own node's pods only, and
 * of each only metadata (no spec, no status). A cluster-wide pod informer, or one with whole
 * pod objects, does not fit on a node of a large cluster. The pod's cgroup and network
 * namespace come from the kernel (core's pods/), never from the API server.
 */
import type { KubeConfig, V1ObjectMeta } from "@kubernetes/client-node";
import type { Logger, PodInfo, PodSource } from "@ebpf-operator/core";
import { Informer } from "../kube/informer.js";

interface PodMetadata {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
}

/** What pod scope keeps of a pod's metadata; undefined for an object without the fields every pod has. */
export function podInfoOf(object: PodMetadata): PodInfo | undefined {
  const meta = object.metadata;
  if (!meta?.uid || !meta.name || !meta.namespace) return undefined;
  return { uid: meta.uid, namespace: meta.namespace, name: meta.name, labels: { ...meta.labels }, deleting: meta.deletionTimestamp !== undefined };
}

export class NodePodSource implements PodSource {
  private readonly informer: Informer<PodMetadata>;
  private readonly byUid = new Map<string, PodInfo>();
  private readonly listeners: (() => void)[] = [];

  constructor(options: { kubeConfig: KubeConfig; nodeName: string; logger: Logger; resyncMs?: number }) {
    this.informer = new Informer<PodMetadata>({
      kubeConfig: options.kubeConfig,
      apiVersion: "v1",
      kind: "Pod",
      path: "/api/v1/pods",
      fieldSelector: `spec.nodeName=${options.nodeName}`,
      metadataOnly: true,
      // Annotations (kubectl's last-applied-configuration holds the whole pod) and managedFields
      // are never read: dropped before caching, so a pod costs its names, UID and labels.
      transform: (object) => ({
        apiVersion: object.apiVersion,
        kind: object.kind,
        metadata: {
          uid: object.metadata?.uid,
          name: object.metadata?.name,
          namespace: object.metadata?.namespace,
          resourceVersion: object.metadata?.resourceVersion,
          labels: object.metadata?.labels,
          deletionTimestamp: object.metadata?.deletionTimestamp,
        },
      }),
      logger: options.logger,
      ...(options.resyncMs === undefined ? {} : { resyncMs: options.resyncMs }),
    });
    this.informer.on((event, object) => {
      const info = podInfoOf(object);
      if (!info) return;
      if (event === "delete") this.byUid.delete(info.uid);
      else this.byUid.set(info.uid, info);
      for (const listener of this.listeners) listener();
    });
  }

  /** Lists this node's pods (retrying until the API server answers) and starts watching. */
  start(): Promise<void> {
    return this.informer.start();
  }

  stop(): void {
    this.informer.stop();
  }

  get hasSynced(): boolean {
    return this.informer.hasSynced;
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

  /** The objects as the informer holds them (tests: proof that no spec or status is kept). */
  cachedObjects(): readonly PodMetadata[] {
    return this.informer.list();
  }
}
