/**
 * Kubernetes Events about EbpfMaps (`kubectl describe ebpfmap` shows them). Repeats of the same
 * reason and message on the same object are folded into one Event with a count, as client-go's
 * recorder does, so a failing resource does not flood the API server.
 */
import { CoreV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "@ebpf-operator/core";
import { apiMessage } from "./api-errors.js";

export type EventType = "Normal" | "Warning";

export class EventRecorder {
  private readonly api: CoreV1Api;
  private readonly recent = new Map<string, { name: string; count: number }>();

  constructor(
    kubeConfig: KubeConfig,
    private readonly component: string,
    private readonly logger: Logger,
  ) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
  }

  async record(object: KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = object.metadata?.namespace ?? "default";
    const key = `${object.metadata?.uid}/${type}/${reason}/${message}`;
    const now = new Date();
    const previous = this.recent.get(key);
    try {
      if (previous) {
        previous.count++;
        await this.api.patchNamespacedEvent(
          { name: previous.name, namespace, body: { count: previous.count, lastTimestamp: now } },
          // Merge patch: only the two fields change.
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        );
        return;
      }
      const event: CoreV1Event = {
        metadata: { generateName: `${object.metadata?.name}.`, namespace },
        involvedObject: {
          apiVersion: object.apiVersion,
          kind: object.kind,
          name: object.metadata?.name,
          namespace,
          uid: object.metadata?.uid,
          resourceVersion: object.metadata?.resourceVersion,
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: this.component },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        reportingComponent: this.component,
      };
      const created = await this.api.createNamespacedEvent({ namespace, body: event });
      this.recent.set(key, { name: created.metadata!.name!, count: 1 });
      if (this.recent.size > 1000) this.recent.delete(this.recent.keys().next().value!);
    } catch (error) {
      this.logger.warn({ reason, error: apiMessage(error) }, "recording an event failed");
      this.recent.delete(key);
    }
  }
}
