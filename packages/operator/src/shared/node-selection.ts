/** Which nodes an EbpfMap selects, and how its per-node statuses add up. */
import type { V1Node } from "@kubernetes/client-node";
import type { EbpfMapStatus } from "@ebpf-operator/core";
import type { EbpfMapObject, NodeStatusObject } from "./types.js";

/** `nodeSelector` semantics of a Pod: every key must be present with the same value. */
export function selectsNode(selector: Record<string, string> | undefined, node: V1Node): boolean {
  const labels = node.metadata?.labels ?? {};
  return Object.entries(selector ?? {}).every(([key, value]) => labels[key] === value);
}

export interface NodeSummary {
  selected: string[];
  ready: string[];
  failed: { node: string; phase: string; code?: string; message: string }[];
  pending: string[];
}

/**
 * A node counts as ready only when its agent reports Running for this generation and object:
 * an older report (before an edit) is pending, never ready.
 */
export function summarizeNodes(resource: EbpfMapObject, nodes: V1Node[], statuses: NodeStatusObject[], objectHash: string | undefined): NodeSummary {
  const generation = resource.metadata.generation ?? 0;
  const summary: NodeSummary = { selected: [], ready: [], failed: [], pending: [] };
  // Reports of this resource only: the same name in another namespace is another tenant's.
  const own = statuses.filter((s) => s.metadata.namespace === resource.metadata.namespace && s.spec.ebpfMap === resource.metadata.name);
  const byNode = new Map(own.map((s) => [s.spec.nodeName, s]));
  for (const node of nodes) {
    const name = node.metadata?.name;
    if (!name || !selectsNode(resource.spec.nodeSelector, node)) continue;
    summary.selected.push(name);
    const status = byNode.get(name)?.status;
    const current = status?.observedGeneration === generation && (status.objectHash === objectHash || !status.objectHash);
    if (!status || !current) summary.pending.push(name);
    else if (status.phase === "Running") summary.ready.push(name);
    else if (status.phase === "Failed" || status.phase === "Unsupported" || status.phase === "Degraded") {
      summary.failed.push({ node: name, phase: status.phase, code: status.lastError?.code, message: status.lastError?.message ?? status.phase });
    } else summary.pending.push(name);
  }
  summary.selected.sort();
  return summary;
}

export function nodeCounts(summary: NodeSummary): Pick<EbpfMapStatus, "selectedNodes" | "readyNodes" | "failedNodes" | "ready" | "failures"> {
  return {
    selectedNodes: summary.selected.length,
    readyNodes: summary.ready.length,
    failedNodes: summary.failed.length,
    ready: `${summary.ready.length}/${summary.selected.length}`,
    failures: summary.failed.slice(0, 5),
  };
}
