/**
 * The operator process: informers on EbpfMaps, their per-node statuses and Nodes feed a work
 * queue of EbpfMap keys; workers run the reconciler (never two for one key); a Lease makes only
 * one replica reconcile; `/metrics`, `/healthz` and `/readyz` are served throughout.
 */
import { hostname } from "node:os";
import type { KubeConfig, V1Node } from "@kubernetes/client-node";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import {
  API_GROUP_VERSION,
  BpfCompiler,
  CompileMetrics,
  KIND,
  MetricRegistry,
  NODE_STATUS_KIND,
  describeError,
  loadPlugins,
  parseListenAddress,
  reportPlugins,
  startHttpServer,
  type CompilerOptions,
  type Logger,
} from "@ebpf-operator/core";
import { LocalObjectCompiler, type ObjectCompiler } from "./compiler/object-compiler.js";
import { RemoteObjectCompiler } from "./compiler/remote-compiler.js";
import { withCompilerMetrics } from "./compiler/compiler-metrics.js";
import { EBPFMAP_PLURAL, NODE_STATUS_PLURAL } from "./crd/crds.js";
import { EbpfMapReconciler, KubeEbpfMapWriter } from "./controller/ebpfmap-reconciler.js";
import { MAX_OBJECT_BYTES, ObjectStore } from "./shared/object-store.js";
import type { EbpfMapObject, NodeStatusObject } from "./shared/types.js";
import { EventRecorder } from "./kube/events.js";
import { Informer, objectKey } from "./kube/informer.js";
import { reuseConnections } from "./kube/connection-reuse.js";
import { tenancyInformers } from "./shared/tenancy-informers.js";
import { currentPolicy } from "./shared/tenancy-policy.js";
import { LeaderElector } from "./kube/leader-election.js";
import { WorkQueue } from "./kube/work-queue.js";
import { operatorAttributes } from "./serving/kube-access.js";
import { startSecureServing, type SecureServingOptions } from "./serving/secure-serving.js";
import { ServingCertManager, serviceDnsNames, type ServingCertOptions } from "./serving/serving-cert-manager.js";

/** The Secrets and ConfigMap of the install's serving certificates (serving-cert-manager.ts). */
export interface ManagedServingCerts {
  /** Objects are `<prefix>-ca`, `<prefix>-agent-tls`, `<prefix>-metrics-tls`, `<prefix>-serving-ca`. */
  prefix: string;
  /** Services whose names the certificates carry. */
  agentService: string;
  metricsService: string;
  /** Lifetimes and check interval (tests shorten them). */
  tuning?: Pick<ServingCertOptions, "caLifetimeMs" | "certLifetimeMs" | "caOverlapMs" | "intervalMs" | "now">;
}

/** See OperatorOptions.compileRequestsPerNamespace. */
export const DEFAULT_COMPILE_REQUESTS_PER_NAMESPACE = 3;

export interface OperatorOptions extends SecureServingOptions {
  kubeConfig: KubeConfig;
  /** Namespace of the operator: published objects and the leader Lease live here. */
  namespace: string;
  cacheDir: string;
  plugins: string[];
  /** `host:port` of /metrics, /healthz, /readyz. */
  listen: string;
  workers?: number;
  leaderElection?: boolean;
  identity?: string;
  logger: Logger;
  unloadTimeoutMs?: number;
  /**
   * The compile server's Unix socket (`ebpf-operator compile-server`, a container of its own in
   * the deployment). Without it the operator compiles in this process, in the same sandbox.
   */
  compilerSocket?: string;
  /**
   * Compile requests kept outstanding per namespace (EbpfMapReconciler's `outstandingCompiles`).
   * One more than the compile server's 2 slots keeps a slot from idling between a compile's
   * answer and the next request (docs/architecture.md, measured in docs/compiler.md); the
   * compiler's fair queue still shares the slots across namespaces. Default 3.
   */
  compileRequestsPerNamespace?: number;
  /** Settings of the in-process compiler (no compilerSocket). Its sandbox is required unless said otherwise. */
  compiler?: Omit<CompilerOptions, "cacheDir" | "metrics" | "logger">;
  /** The leader makes and rotates the serving certificates; absent: they come from elsewhere (cert-manager). */
  servingCerts?: ManagedServingCerts;
}

export interface RunningOperator {
  url: string;
  stop(): Promise<void>;
}

export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const { kubeConfig, logger } = options;
  // Before any API client is made: one keep-alive agent instead of a connection per request.
  const closeConnections = reuseConnections(kubeConfig);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "ebpf_operator_controller_process_" });
  const reconciles = new Counter({
    name: "ebpf_operator_controller_reconciles_total",
    help: "Reconciles by result.",
    labelNames: ["result"],
    registers: [registry],
  });
  const reconcileDuration = new Histogram({ name: "ebpf_operator_controller_reconcile_duration_seconds", help: "Time per reconcile.", registers: [registry] });
  const queueDepth = new Gauge({ name: "ebpf_operator_controller_queue_depth", help: "Keys waiting in the work queue.", registers: [registry] });
  const leader = new Gauge({ name: "ebpf_operator_controller_leader", help: "1 while this replica holds the leader lease.", registers: [registry] });

  const plugins = await loadPlugins(options.plugins);
  reportPlugins(plugins.reports, logger);

  let compiler: ObjectCompiler;
  let remoteCompiler: RemoteObjectCompiler | undefined;
  if (options.compilerSocket) compiler = remoteCompiler = new RemoteObjectCompiler(options.compilerSocket);
  else {
    compiler = new LocalObjectCompiler(
      new BpfCompiler({
        sandbox: "required",
        // Checked before anything is cached: a larger object could not be published anyway.
        maxObjectBytes: MAX_OBJECT_BYTES,
        ...options.compiler,
        cacheDir: options.cacheDir,
        metrics: new CompileMetrics(registry),
        logger: logger.child({ component: "compiler" }),
      }),
    );
  }
  // Reported once; a compile that cannot run reports the same on its resource.
  compiler.info().then(
    (info) => {
      if (info.sandbox.mode === "bwrap") logger.info({ sandbox: info.sandbox, clang: info.clang, compilerSocket: options.compilerSocket }, "compiler ready");
      else logger.error({ sandbox: info.sandbox, compilerSocket: options.compilerSocket }, "COMPILER SANDBOX UNAVAILABLE: tenant C is compiled unconfined");
    },
    (error: unknown) =>
      logger.error({ error: describeError(error), compilerSocket: options.compilerSocket }, "compiler unavailable; compiles fail until it is"),
  );

  const ebpfMaps = new Informer<EbpfMapObject>({
    kubeConfig,
    apiVersion: API_GROUP_VERSION,
    kind: KIND,
    path: `/apis/${API_GROUP_VERSION}/${EBPFMAP_PLURAL}`,
    logger,
  });
  const nodeStatuses = new Informer<NodeStatusObject>({
    kubeConfig,
    apiVersion: API_GROUP_VERSION,
    kind: NODE_STATUS_KIND,
    path: `/apis/${API_GROUP_VERSION}/${NODE_STATUS_PLURAL}`,
    logger,
  });
  const nodes = new Informer<V1Node>({ kubeConfig, apiVersion: "v1", kind: "Node", path: "/api/v1/nodes", logger });
  const { policies, namespaces } = tenancyInformers(kubeConfig, logger);
  const objects = new ObjectStore(kubeConfig, options.namespace);
  // Fair across namespaces; with several workers one is always left for the other namespaces.
  // Reconciles mostly wait on the API server and the compiler: 4 workers give one namespace 3.
  const workerCount = options.workers ?? 4;
  const queue = new WorkQueue({ maxActivePerShard: Math.max(1, workerCount - 1) });
  const reconciler = new EbpfMapReconciler({
    writer: new KubeEbpfMapWriter(kubeConfig),
    ebpfMaps,
    nodeStatuses,
    nodes,
    namespaces,
    policies,
    compiler,
    plugins,
    objects,
    events: new EventRecorder(kubeConfig, "ebpf-operator", logger),
    logger,
    unloadTimeoutMs: options.unloadTimeoutMs,
    requeue: (key) => queue.add(key),
    outstandingCompiles: { total: 8, perNamespace: options.compileRequestsPerNamespace ?? DEFAULT_COMPILE_REQUESTS_PER_NAMESPACE },
  });

  const requeueNamespace = (namespace: string | undefined) => {
    for (const resource of ebpfMaps.list()) if (resource.metadata.namespace === namespace) queue.add(objectKey(resource));
  };
  ebpfMaps.on((event, object) => {
    queue.add(objectKey(object));
    // Which of a namespace's EbpfMaps fit its quota follows their age (admit: oldest first, then
    // by name). One going away, or starting to, lets a younger one in: look at all again. One
    // added is the youngest and moves no one, except, in a namespace over its quota, those
    // created in the same second and named after it: only those. Requeueing the whole namespace
    // on every add made creating N resources cost N² reconciles (docs/benchmarks.md, section 4).
    if (event === "delete" || (event === "update" && object.metadata.deletionTimestamp)) requeueNamespace(object.metadata.namespace);
    else if (event === "add") {
      const { namespace, name, creationTimestamp } = object.metadata;
      const siblings = ebpfMaps.list().filter((r) => r.metadata.namespace === namespace && !r.metadata.deletionTimestamp);
      if (siblings.length <= currentPolicy(namespace, { namespaces, policies, plugins }).quotas.ebpfMaps) return;
      for (const resource of siblings) {
        if (String(resource.metadata.creationTimestamp) === String(creationTimestamp) && resource.metadata.name.localeCompare(name) > 0)
          queue.add(objectKey(resource));
      }
    }
  });
  nodeStatuses.on((_event, status) => queue.add(`${status.metadata.namespace}/${status.spec.ebpfMap}`));
  // A node's labels decide selection: re-evaluate every resource.
  nodes.on(() => {
    for (const resource of ebpfMaps.list()) queue.add(objectKey(resource));
  });
  // A namespace's labels decide which policy governs it (and the kernel-wide shorthand label): an
  // admin's change takes effect at once, without an edit of the resources.
  namespaces.on((_event, namespace) => requeueNamespace(namespace.metadata?.name));
  // A policy may select any namespace (before and after an edit): re-evaluate everything.
  policies.on(() => {
    for (const resource of ebpfMaps.list()) queue.add(objectKey(resource));
  });

  let ready = false;
  let stopping = false;
  const families = new MetricRegistry(registry);
  // The compile server's ebpf_operator_compile_* families are served here, behind this server's
  // authentication: the compiler container has no metrics port (docs/architecture.md).
  const metrics = remoteCompiler
    ? withCompilerMetrics(
        families,
        remoteCompiler,
        new Gauge({
          name: "ebpf_operator_compile_server_up",
          help: "1 when the compile server answered this scrape's request for its metrics (its ebpf_operator_compile_* families), 0 when not.",
          registers: [registry],
        }),
        logger,
      )
    : () => families.read();
  // HTTPS; /metrics for whoever may `get` the non-resource URL /metrics (controller-runtime's rule).
  const serving = await startSecureServing(options, {
    kubeConfig,
    attributes: operatorAttributes,
    metricPrefix: "ebpf_operator_controller_",
    logger,
    registry,
  });
  const http = await startHttpServer(parseListenAddress(options.listen), {
    metrics,
    ready: () => ready,
    tls: serving.certificate.current,
    access: serving.access,
    logger,
  });
  serving.certificate.onChange((tls) => http.setCertificate(tls));
  http.setCertificate(serving.certificate.current); // in case it changed while the server started
  const url = http.url;
  const certs = options.servingCerts;
  const certManager = certs
    ? new ServingCertManager({
        kubeConfig,
        namespace: options.namespace,
        caSecret: `${certs.prefix}-ca`,
        caConfigMap: `${certs.prefix}-serving-ca`,
        endpoints: [
          { secret: `${certs.prefix}-agent-tls`, dnsNames: serviceDnsNames(certs.agentService, options.namespace) },
          { secret: `${certs.prefix}-metrics-tls`, dnsNames: serviceDnsNames(certs.metricsService, options.namespace) },
        ],
        logger: logger.child({ component: "serving-certs" }),
        ...certs.tuning,
      })
    : undefined;
  logger.info({ url }, "operator listening");

  const elector =
    options.leaderElection === false
      ? undefined
      : new LeaderElector({
          kubeConfig,
          namespace: options.namespace,
          name: "ebpf-operator-leader",
          identity: options.identity ?? `${hostname()}-${process.pid}`,
          logger,
        });
  const workers: Promise<void>[] = [];
  let gcTimer: NodeJS.Timeout | undefined;

  const run = async () => {
    if (elector) {
      await elector.acquire(() => {
        // Two leaders must never reconcile at once: stop everything, the process exits.
        leader.set(0);
        void stop().then(() => process.exit(1));
      });
      leader.set(1);
    }
    if (stopping) return;
    certManager?.start();
    await Promise.all([ebpfMaps.start(), nodeStatuses.start(), nodes.start(), namespaces.start(), policies.start()]);
    ready = true;
    logger.info({ ebpfMaps: ebpfMaps.list().length, nodes: nodes.list().length }, "caches synced; reconciling");
    for (let i = 0; i < workerCount; i++) workers.push(worker());
    gcTimer = setInterval(() => {
      const referenced = new Set(ebpfMaps.list().flatMap((m) => (m.status?.object ? [m.status.object.hash] : [])));
      objects.collectGarbage(referenced).then(
        (deleted) => deleted.length && logger.info({ deleted }, "removed unreferenced objects"),
        (error: unknown) => logger.warn({ error: describeError(error) }, "object garbage collection failed"),
      );
    }, 5 * 60_000);
    gcTimer.unref();
  };

  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      queueDepth.set(queue.length);
      if (key === undefined) return;
      const end = reconcileDuration.startTimer();
      try {
        const result = await reconciler.reconcile(key);
        queue.forget(key);
        if (result.requeueAfterMs) queue.addAfter(key, result.requeueAfterMs);
        reconciles.inc({ result: result.requeueAfterMs ? "requeue" : "success" });
      } catch (error) {
        const delay = queue.addRateLimited(key);
        reconciles.inc({ result: "error" });
        logger.warn({ key, retryInMs: delay, error: describeError(error) }, "reconcile failed; requeued");
      } finally {
        end();
        queue.done(key);
      }
    }
  };

  const started = run().catch((error: unknown) => {
    if (!stopping) logger.error({ error: describeError(error) }, "operator failed to start");
  });

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(gcTimer);
    elector?.stop();
    queue.shutDown();
    ebpfMaps.stop();
    nodeStatuses.stop();
    nodes.stop();
    namespaces.stop();
    policies.stop();
    await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, 10_000))]);
    await certManager?.stop();
    serving.certificate.stop();
    await elector?.release();
    await http.close();
    closeConnections();
    void started;
  };
  return { url, stop };
}
