/**
 * Writes this node's `EbpfMapNodeStatus` objects: one per resource the agent handles, named
 * `<ebpfmap>.<node>`, owner-referenced to the EbpfMap, written only by this agent (server-side
 * apply with the agent's field manager). Writes that fail (API server away) are retried until
 * they land; the newest status for a resource always wins.
 */
import { createHash } from "node:crypto";
import { KubernetesObjectApi, PatchStrategy, type KubeConfig } from "@kubernetes/client-node";
import { API_GROUP_VERSION, NODE_STATUS_KIND, describeError, type Logger, type ResourceRef, type ResourceStatus } from "@ebpf-operator/core";
import { isNotFound } from "../kube/api-errors.js";
import { EBPFMAP_LABEL, NODE_LABEL } from "../shared/types.js";

export function nodeStatusName(ebpfMap: string, node: string): string {
  const name = `${ebpfMap}.${node}`;
  if (name.length <= 253) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 10);
  return `${name.slice(0, 240)}.${hash}`;
}

type Pending = { ref: ResourceRef; status: ResourceStatus | undefined; uid?: string };

export class NodeStatusWriter {
  private readonly api: KubernetesObjectApi;
  private readonly pending = new Map<string, Pending>();
  private running = false;
  private timer?: NodeJS.Timeout;

  constructor(
    kubeConfig: KubeConfig,
    private readonly nodeName: string,
    private readonly logger: Logger,
  ) {
    this.api = KubernetesObjectApi.makeApiClient(kubeConfig);
  }

  /** Queues the status of a resource (`undefined`: delete its object). */
  update(ref: ResourceRef, status: ResourceStatus | undefined, uid?: string): void {
    this.pending.set(`${ref.namespace}/${ref.name}`, { ref, status: status && structuredClone(status), uid });
    void this.flush();
  }

  /** Deletes this node's status objects for resources the agent does not handle. */
  async removeStale(handled: Set<string>): Promise<void> {
    const list = await this.api.list(
      API_GROUP_VERSION,
      NODE_STATUS_KIND,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      `${NODE_LABEL}=${this.nodeName}`,
    );
    for (const item of list.items) {
      const namespace = item.metadata?.namespace ?? "";
      const ebpfMap = item.metadata?.labels?.[EBPFMAP_LABEL] ?? "";
      if (!handled.has(`${namespace}/${ebpfMap}`)) this.update({ namespace, name: ebpfMap }, undefined);
    }
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private async flush(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (const [key, item] of [...this.pending]) {
        try {
          await this.write(item);
          if (this.pending.get(key) === item) this.pending.delete(key);
        } catch (error) {
          this.logger.warn(
            { namespace: item.ref.namespace, ebpfmap: item.ref.name, error: describeError(error) },
            "writing the node status failed; will retry",
          );
        }
      }
    } finally {
      this.running = false;
    }
    if (this.pending.size > 0) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.flush(), 2_000);
      this.timer.unref();
    }
  }

  private async write({ ref, status, uid }: Pending): Promise<void> {
    const metadata = { name: nodeStatusName(ref.name, this.nodeName), namespace: ref.namespace };
    if (!status) {
      try {
        await this.api.delete({ apiVersion: API_GROUP_VERSION, kind: NODE_STATUS_KIND, metadata });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      return;
    }
    const body = {
      apiVersion: API_GROUP_VERSION,
      kind: NODE_STATUS_KIND,
      metadata: {
        ...metadata,
        labels: { [EBPFMAP_LABEL]: ref.name, [NODE_LABEL]: this.nodeName },
        ...(uid ? { ownerReferences: [{ apiVersion: API_GROUP_VERSION, kind: "EbpfMap", name: ref.name, uid, blockOwnerDeletion: false }] } : {}),
      },
      spec: { ebpfMap: ref.name, nodeName: this.nodeName },
      status: {
        phase: status.phase,
        ...(status.observedGeneration !== undefined ? { observedGeneration: status.observedGeneration } : {}),
        ...(status.objectHash ? { objectHash: status.objectHash } : {}),
        conditions: status.conditions,
        ...(status.lastError ? { lastError: status.lastError } : {}),
        ...(status.program
          ? { program: { id: status.program.id, loadKey: status.program.loadKey, adopted: status.program.adopted, attachments: status.program.attachments } }
          : {}),
        ...(status.programs
          ? { programs: status.programs.map((p) => ({ name: p.name, type: p.type, target: p.target, id: p.id, attachments: p.attachments })) }
          : {}),
        ...(status.metric ? { metrics: status.metric.split(", ") } : {}),
      },
    };
    await this.api.patch(body, undefined, undefined, "ebpf-agent", true, PatchStrategy.ServerSideApply);
  }
}
