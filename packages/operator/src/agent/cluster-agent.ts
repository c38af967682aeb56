/**
 * The agent in cluster mode: the same agent as standalone (loader, collector, plugins, pins,
 * HTTP endpoints), with the API server as its source. It runs the EbpfMaps whose nodeSelector
 * matches its own Node, once the operator has compiled the current generation; it fetches the
 * published object instead of compiling, and writes its own per-node status objects.
 *
 * While the operator compiles an edit (or when the edit fails to compile) the node keeps
 * running the last generation it loaded. A resource that is deleted, or stops selecting this
 * node, is unloaded and unpinned. When the API server is away, the informers retry with
 * backoff and `/metrics` keeps being served.
 */
import type { KubeConfig, V1Node } from "@kubernetes/client-node";
import {
  API_GROUP_VERSION,
  KIND,
  TOKENS,
  describeError,
  refKey,
  startAgentHost,
  type Desired,
  type Logger,
  type ObservabilitySettings,
} from "@ebpf-operator/core";
import { EBPFMAP_PLURAL } from "../crd/crds.js";
import { Informer, objectKey } from "../kube/informer.js";
import { Conditions, Reasons } from "../shared/conditions.js";
import { selectsNode } from "../shared/node-selection.js";
import { ObjectStore } from "../shared/object-store.js";
import type { EbpfMapObject } from "../shared/types.js";
import { startSecureServing, type SecureServingOptions } from "../serving/secure-serving.js";
import { agentAttributes } from "../serving/kube-access.js";
import { FetchingObjectProvider } from "./fetching-object-provider.js";
import { NodeStatusWriter } from "./node-status-writer.js";

export interface ClusterAgentOptions extends ObservabilitySettings, SecureServingOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  /** Namespace where the operator publishes compiled objects. */
  objectNamespace: string;
  pinRoot: string;
  cacheDir: string;
  plugins: string[];
  listen: string;
  logger: Logger;
}

export interface RunningClusterAgent {
  url: string;
  stop(): Promise<void>;
}

/**
 * The operator refuses the current generation on tenancy grounds (the namespace's permission for
 * kernel-wide types was taken away): unlike a compile error, this must not keep the last good
 * generation running.
 */
function revoked(resource: EbpfMapObject): boolean {
  const ready = resource.status?.conditions?.find((c) => c.type === Conditions.Ready);
  return ready?.reason === Reasons.KernelWideNotAllowed && ready.observedGeneration === resource.metadata.generation;
}

/**
 * What this node should run: the EbpfMaps selecting it, each at the latest generation the
 * operator compiled (`applied` remembers the last one handed over, kept while a newer one
 * compiles, and is updated here).
 */
export function desiredOnNode(resources: readonly EbpfMapObject[], node: V1Node | undefined, applied: Map<string, EbpfMapObject>): Desired[] {
  const out: Desired[] = [];
  const seen = new Set<string>();
  for (const resource of resources) {
    const key = objectKey(resource);
    if (resource.metadata.deletionTimestamp || !node || !selectsNode(resource.spec.nodeSelector, node)) continue;
    if (revoked(resource)) continue;
    const current = resource.status?.object?.generation === resource.metadata.generation ? resource : applied.get(key);
    if (!current) continue; // not compiled yet
    applied.set(key, current);
    seen.add(key);
    out.push({ source: "kubernetes", ref: { namespace: resource.metadata.namespace, name: resource.metadata.name }, resource: current });
  }
  for (const key of [...applied.keys()]) if (!seen.has(key)) applied.delete(key);
  return out;
}

export async function startClusterAgent(options: ClusterAgentOptions): Promise<RunningClusterAgent> {
  const { kubeConfig, nodeName, logger } = options;
  // HTTPS, and every read authenticated (TokenReview) and authorized (SubjectAccessReview).
  const serving = await startSecureServing(options, { kubeConfig, attributes: agentAttributes, metricPrefix: "ebpf_operator_agent_", logger });
  const host = await startAgentHost({
    ...options,
    tls: serving.certificate.current,
    access: serving.access,
    configure: (container) => {
      serving.access.register(container.get(TOKENS.MetricsRegistry));
      container
        .rebind(TOKENS.ObjectProvider)
        .toConstantValue(new FetchingObjectProvider(new ObjectStore(kubeConfig, options.objectNamespace), options.cacheDir));
    },
    mode: "cluster",
    status: () => ({ node: nodeName }),
  });
  serving.certificate.onChange((tls) => host.setCertificate(tls));
  host.setCertificate(serving.certificate.current); // in case it changed while the host started
  const { agent } = host;

  const ebpfMaps = new Informer<EbpfMapObject>({
    kubeConfig,
    apiVersion: API_GROUP_VERSION,
    kind: KIND,
    path: `/apis/${API_GROUP_VERSION}/${EBPFMAP_PLURAL}`,
    logger,
  });
  const nodes = new Informer<V1Node>({ kubeConfig, apiVersion: "v1", kind: "Node", path: "/api/v1/nodes", fieldSelector: `metadata.name=${nodeName}`, logger });
  const writer = new NodeStatusWriter(kubeConfig, nodeName, logger);
  agent.onStatus((ref, status) => writer.update(ref, status, ebpfMaps.get(refKey(ref))?.metadata.uid));

  // The generation last handed to the agent per resource: kept while a newer one compiles.
  const applied = new Map<string, EbpfMapObject>();
  let syncing: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const desired = () => desiredOnNode(ebpfMaps.list(), nodes.get(nodeName), applied);
  const sync = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      syncing = syncing.then(() => agent.sync(desired())).catch((error: unknown) => logger.error({ error: describeError(error) }, "sync failed"));
    }, 100);
  };
  ebpfMaps.on(sync);
  nodes.on(sync);

  await Promise.all([ebpfMaps.start(), nodes.start()]);
  if (!nodes.get(nodeName)) logger.warn({ node: nodeName }, "this node's Node object does not exist: no EbpfMap is selected until it does");
  await agent.sync(desired());
  await agent.collectGarbage();
  await writer
    .removeStale(new Set(agent.statuses().map((s) => `${s.namespace}/${s.name}`)))
    .catch((error: unknown) => logger.warn({ error: describeError(error) }, "removing stale node statuses failed"));
  host.markReady();

  return {
    url: host.url,
    stop: async () => {
      clearTimeout(timer);
      ebpfMaps.stop();
      nodes.stop();
      writer.stop();
      await syncing;
      serving.certificate.stop();
      await host.stop(); // pins stay: a restarted agent adopts them
    },
  };
}
