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
  defaultPodScope,
  ConditionType,
  describeError,
  newStatus,
  refKey,
  setCondition,
  type ResourceStatus,
  startAgentHost,
  type Desired,
  type Logger,
  type ObservabilitySettings,
} from "@ebpf-operator/core";
import { EBPFMAP_PLURAL } from "../crd/crds.js";
import { Informer, objectKey } from "../kube/informer.js";
import { tenancyInformers } from "../shared/tenancy-informers.js";
import { Conditions, Reasons } from "../shared/conditions.js";
import { selectsNode } from "../shared/node-selection.js";
import { ObjectStore } from "../shared/object-store.js";
import { admit, currentPolicy, effectivePolicy, enforcementOf, nodeRefusal, type EffectivePolicy } from "../shared/tenancy-policy.js";
import type { EbpfMapObject } from "../shared/types.js";
import { startSecureServing, type SecureServingOptions } from "../serving/secure-serving.js";
import { agentAttributes } from "../serving/kube-access.js";
import { FetchingObjectProvider } from "./fetching-object-provider.js";
import { NodeStatusWriter } from "./node-status-writer.js";
import { NodePodSource } from "./node-pods.js";

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
 * The operator refuses the current generation on tenancy grounds (a policy or label was taken
 * away): unlike a compile error, this must not keep the last good generation running.
 */
function revoked(resource: EbpfMapObject): boolean {
  const ready = resource.status?.conditions?.find((c) => c.type === Conditions.Ready);
  return ready?.reason === Reasons.PolicyRefused && ready.observedGeneration === resource.metadata.generation;
}

/** A resource this agent refuses though the operator published it: reported on the node's status. */
export interface NodeRefusal {
  resource: EbpfMapObject;
  message: string;
}

/**
 * The agent's own tenancy check of a resource selecting its node (it trusts no status): the
 * namespace's policy must admit it, and allow this node. Returns why not, or undefined.
 */
export type PolicyCheck = (resource: EbpfMapObject, node: V1Node) => string | undefined;

/**
 * What this node should run: the EbpfMaps selecting it that the policy admits here, each at the
 * latest generation the operator compiled (`applied` remembers the last one handed over, kept
 * while a newer one compiles, and is updated here). `refused`: resources the operator published
 * but this agent's own check refuses.
 */
export function desiredOnNode(
  resources: readonly EbpfMapObject[],
  node: V1Node | undefined,
  applied: Map<string, EbpfMapObject>,
  check: PolicyCheck = () => undefined,
): { desired: Desired[]; refused: NodeRefusal[] } {
  const out: Desired[] = [];
  const refused: NodeRefusal[] = [];
  const seen = new Set<string>();
  for (const resource of resources) {
    const key = objectKey(resource);
    if (resource.metadata.deletionTimestamp || !node || !selectsNode(resource.spec.nodeSelector, node)) continue;
    if (revoked(resource)) continue;
    const why = check(resource, node);
    if (why !== undefined) {
      if (resource.status?.object?.generation === resource.metadata.generation) refused.push({ resource, message: why });
      continue;
    }
    const current = resource.status?.object?.generation === resource.metadata.generation ? resource : applied.get(key);
    if (!current) continue; // not compiled yet
    applied.set(key, current);
    seen.add(key);
    out.push({ source: "kubernetes", ref: { namespace: resource.metadata.namespace, name: resource.metadata.name }, resource: current });
  }
  for (const key of [...applied.keys()]) if (!seen.has(key)) applied.delete(key);
  return { desired: out, refused };
}

/** The node status an agent writes for a resource it refuses. */
function refusedStatus(resource: EbpfMapObject, message: string): ResourceStatus {
  const status = newStatus({ namespace: resource.metadata.namespace, name: resource.metadata.name }, "kubernetes");
  const generation = resource.metadata.generation ?? 0;
  status.phase = "Failed";
  status.observedGeneration = generation;
  status.lastError = { code: "EOP_ERR_POLICY_REFUSED", message, time: new Date().toISOString() };
  setCondition(status.conditions, { type: ConditionType.Ready, status: "False", reason: "PolicyRefused", message, observedGeneration: generation });
  return status;
}

export async function startClusterAgent(options: ClusterAgentOptions): Promise<RunningClusterAgent> {
  const { kubeConfig, nodeName, logger } = options;
  // HTTPS, and every read authenticated (TokenReview) and authorized (SubjectAccessReview).
  const serving = await startSecureServing(options, { kubeConfig, attributes: agentAttributes, metricPrefix: "ebpf_operator_agent_", logger });
  // The namespace's tenancy policy: `of` is set below, once the informers exist, before the first
  // sync (nothing is loaded before it).
  const namespacePolicy: { of?: (namespace: string) => EffectivePolicy } = {};
  // Pod scope: this node's pods (metadata only), their cgroups from the kernel's tree.
  const nodePods = new NodePodSource({ kubeConfig, nodeName, logger });
  const host = await startAgentHost({
    ...options,
    tls: serving.certificate.current,
    access: serving.access,
    configure: (container) => {
      serving.access.register(container.get(TOKENS.MetricsRegistry));
      container
        .rebind(TOKENS.ObjectProvider)
        .toConstantValue(new FetchingObjectProvider(new ObjectStore(kubeConfig, options.objectNamespace), options.cacheDir));
      // What the loader enforces for a resource: its namespace's policy's helper grant, verdict
      // mode and object quotas. enforcementOf gives the same object for an unchanged grant (the
      // agent takes a changed enforcement as a changed resource); a policy edit takes effect at
      // the next sync, which the policy and Namespace watches trigger. Until `of` is set (nothing
      // syncs before it is), the default policy.
      container
        .rebind(TOKENS.Enforcement)
        .toConstantValue((ref) => enforcementOf(namespacePolicy.of ? namespacePolicy.of(ref.namespace) : effectivePolicy(ref.namespace, undefined, [], [])));
      container.rebind(TOKENS.Pods).toConstantValue({ ...defaultPodScope(nodePods), standalone: false });
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
  // The tenancy policy, evaluated here again: the operator's verdict in the status is not trusted.
  const { policies, namespaces } = tenancyInformers(kubeConfig, logger);
  const plugins = host.container.get(TOKENS.PluginRegistry);
  const policyFor = (namespace: string) => currentPolicy(namespace, { namespaces, policies, plugins });
  namespacePolicy.of = policyFor;
  // Series are capped where they are read (every scrape and remote-write read), by the policy
  // of the resource's namespace at that moment.
  host.container.get(TOKENS.Collector).setSeriesLimit((ref) => {
    const { quotas } = policyFor(ref.namespace);
    return { perEbpfMap: quotas.seriesPerEbpfMap, perNamespace: quotas.seriesPerNamespace };
  });
  const check: PolicyCheck = (resource, node) => {
    const policy = policyFor(resource.metadata.namespace);
    const siblings = ebpfMaps.list().filter((m) => m.metadata.namespace === resource.metadata.namespace);
    return admit(resource, policy, siblings)?.message ?? nodeRefusal(policy, node);
  };

  const writer = new NodeStatusWriter(kubeConfig, nodeName, logger);
  agent.onStatus((ref, status) => writer.update(ref, status, ebpfMaps.get(refKey(ref))?.metadata.uid));

  // The generation last handed to the agent per resource: kept while a newer one compiles.
  const applied = new Map<string, EbpfMapObject>();
  /** Resources whose refusal this agent reported, by key: their report is removed once they are not refused. */
  const reportedRefusals = new Set<string>();
  let syncing: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const syncOnce = async () => {
    const { desired, refused } = desiredOnNode(ebpfMaps.list(), nodes.get(nodeName), applied, check);
    await agent.sync(desired);
    // After the agent has unloaded what it no longer runs (and removed those reports).
    const now = new Set<string>();
    for (const { resource, message } of refused) {
      const key = objectKey(resource);
      now.add(key);
      logger.warn(
        { namespace: resource.metadata.namespace, ebpfmap: resource.metadata.name, reason: message },
        "the tenancy policy refuses this resource on this node",
      );
      writer.update({ namespace: resource.metadata.namespace, name: resource.metadata.name }, refusedStatus(resource, message), resource.metadata.uid);
    }
    const running = new Set(desired.map((d) => refKey(d.ref)));
    for (const key of reportedRefusals) {
      if (now.has(key) || running.has(key)) continue;
      const [namespace = "", name = ""] = key.split("/");
      writer.update({ namespace, name }, undefined);
    }
    reportedRefusals.clear();
    for (const key of now) reportedRefusals.add(key);
  };
  const sync = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      syncing = syncing.then(syncOnce).catch((error: unknown) => logger.error({ error: describeError(error) }, "sync failed"));
    }, 100);
  };
  ebpfMaps.on(sync);
  nodes.on(sync);
  policies.on(sync);
  namespaces.on(sync);

  // Not awaited: pod scope follows the pods as they are listed (a change event syncs the pod-scoped
  // resources), and no other resource waits for them.
  nodePods.start().catch((error: unknown) => logger.error({ error: describeError(error) }, "the node's pod informer failed"));
  await Promise.all([ebpfMaps.start(), nodes.start(), policies.start(), namespaces.start()]);
  if (!nodes.get(nodeName)) logger.warn({ node: nodeName }, "this node's Node object does not exist: no EbpfMap is selected until it does");
  await syncOnce();
  await agent.collectGarbage();
  await writer
    // The refusals just reported are this node's too: not stale.
    .removeStale(new Set([...agent.statuses().map((s) => `${s.namespace}/${s.name}`), ...reportedRefusals]))
    .catch((error: unknown) => logger.warn({ error: describeError(error) }, "removing stale node statuses failed"));
  host.markReady();

  return {
    url: host.url,
    stop: async () => {
      clearTimeout(timer);
      ebpfMaps.stop();
      nodes.stop();
      policies.stop();
      namespaces.stop();
      nodePods.stop();
      writer.stop();
      await syncing;
      serving.certificate.stop();
      await host.stop(); // pins stay: a restarted agent adopts them
    },
  };
}
