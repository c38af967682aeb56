/**
 * The pods of this node, for pod scope and pod labels: a metadata-only informer over pods with
 * the `spec.nodeName=<node>` field selector, so the agent holds its own node's pods only, and
 * of each only metadata (no spec, no status). A cluster-wide pod informer, or one with whole
 * pod objects, does not fit on a node of a large cluster. The pod's cgroup and network
 * namespace come from the kernel (core's pods/), never from the API server.
 */
import type { KubeConfig, V1ContainerStatus, V1ObjectMeta } from "@kubernetes/client-node";
import { containerIdOf, describeError, type Logger, type PodContainer, type PodInfo, type PodSource } from "@ebpf-operator/core";
import { Informer } from "../kube/informer.js";

interface PodMetadata {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
}

/**
 * The status lists that name a pod's containers: regular, init (sidecars included) and
 * ephemeral (`kubectl debug`). Names are unique across the three within a pod (the API server
 * refuses a pod that repeats one), so one name -> id table serves them all.
 */
const STATUS_LISTS = ["containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"] as const;
type ContainerStatuses = { [list in (typeof STATUS_LISTS)[number]]?: Pick<V1ContainerStatus, "name" | "containerID">[] };

/** What the container watch keeps of a pod: its UID and its containers' names and ids, nothing else. */
interface PodContainers {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  status?: ContainerStatuses;
}

/** A pod's containers that have a runtime id (`containerd://<64 hex>`, `cri-o://…`), of every kind; others are not running yet. */
export function podContainersOf(object: PodContainers): PodContainer[] {
  const out: PodContainer[] = [];
  for (const list of STATUS_LISTS) {
    for (const status of object.status?.[list] ?? []) {
      const id = containerIdOf(status.containerID);
      if (id !== undefined && typeof status.name === "string") out.push({ name: status.name, id });
    }
  }
  return out;
}

/** The container statuses cut to names and ids (the lists the pod has; nothing else of the status). */
function namesAndIds(status: ContainerStatuses | undefined): ContainerStatuses {
  const out: ContainerStatuses = {};
  for (const list of STATUS_LISTS) {
    const statuses = status?.[list];
    if (list === "containerStatuses" || statuses) out[list] = (statuses ?? []).map((c) => ({ name: c.name, containerID: c.containerID }));
  }
  return out;
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
  /** The second watch (whole pods, transformed to their container statuses), once a resource needs container names. */
  private containerInformer: Informer<PodContainers> | undefined;
  private readonly containersByUid = new Map<string, PodContainer[]>();
  private stopped = false;

  constructor(private readonly options: { kubeConfig: KubeConfig; nodeName: string; logger: Logger; resyncMs?: number }) {
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
    this.stopped = true;
    this.informer.stop();
    this.containerInformer?.stop();
  }

  /**
   * Container names (`spec.selector.container`, the `container` label): a second watch of this
   * node's pods, whole objects this time (the metadata-only one has no status), transformed to
   * the UID and `status.{containerStatuses,initContainerStatuses,ephemeralContainerStatuses}[].{name,
   * containerID}` before caching — what the
   * kubelet itself watches, so the API server serves the node's pods to the node once more, and
   * a few hundred bytes a pod stay in memory. Started by the first resource that needs it, never
   * on nodes where none does; a restarted container's new id comes with the kubelet's status
   * update.
   */
  watchContainers(): void {
    if (this.containerInformer || this.stopped) return;
    const { kubeConfig, nodeName, logger, resyncMs } = this.options;
    const informer = new Informer<PodContainers>({
      kubeConfig,
      apiVersion: "v1",
      kind: "Pod",
      path: "/api/v1/pods",
      fieldSelector: `spec.nodeName=${nodeName}`,
      transform: (object) => ({
        apiVersion: object.apiVersion,
        kind: object.kind,
        metadata: {
          uid: object.metadata?.uid,
          name: object.metadata?.name,
          namespace: object.metadata?.namespace,
          resourceVersion: object.metadata?.resourceVersion,
        },
        status: namesAndIds(object.status),
      }),
      logger,
      ...(resyncMs === undefined ? {} : { resyncMs }),
    });
    informer.on((event, object) => {
      const uid = object.metadata?.uid;
      if (!uid) return;
      if (event === "delete") this.containersByUid.delete(uid);
      else this.containersByUid.set(uid, podContainersOf(object));
      for (const listener of this.listeners) listener();
    });
    this.containerInformer = informer;
    logger.info({ node: nodeName }, "watching the node's pods' container statuses (a resource names a container)");
    informer.start().catch((error: unknown) => logger.error({ error: describeError(error) }, "the node's pod container watch failed"));
  }

  containers(uid: string): readonly PodContainer[] | undefined {
    return this.containersByUid.get(uid);
  }

  /** Whether the container watch runs (tests: proof that nodes without container scope never start it). */
  get watchingContainers(): boolean {
    return this.containerInformer !== undefined;
  }

  /** The objects the container watch holds (tests: proof that only names and ids are kept). */
  cachedContainerObjects(): readonly PodContainers[] {
    return this.containerInformer?.list() ?? [];
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
