/** The Kubernetes shapes the controller reads and writes. */
import type { KubernetesObject, V1ObjectMeta } from "@kubernetes/client-node";
import type { EbpfMapSpec, EbpfMapStatus, NodeStatusSpec, NodeStatusStatus } from "@ebpf-operator/core";

export interface EbpfMapObject extends KubernetesObject {
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: EbpfMapSpec;
  status?: EbpfMapStatus;
}

export interface NodeStatusObject extends KubernetesObject {
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: NodeStatusSpec;
  status?: NodeStatusStatus;
}

export const FINALIZER = "observability.cloud/unload";
/** Namespace label by which a cluster admin allows kernel-wide program types there. */
export const ALLOW_KERNEL_WIDE_LABEL = "observability.cloud/allow-kernel-wide-programs";
export const OBJECT_HASH_LABEL = "observability.cloud/object-hash";
export const EBPFMAP_LABEL = "observability.cloud/ebpfmap";
export const NODE_LABEL = "observability.cloud/node";
