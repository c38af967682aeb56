#!/usr/bin/env node
/**
 * `ebpf-operator run   [flags]`  the controller (one Deployment; replicas elect a leader)
 * `ebpf-operator agent --node-name NODE [flags]`  the node agent in cluster mode (a DaemonSet)
 * `ebpf-operator compile-server --socket PATH [flags]`  the sandboxed compiler, in its own
 *    container beside the operator (no Kubernetes access, no token)
 * `ebpf-operator --version`
 *
 * In a pod they use the in-cluster service account; elsewhere $KUBECONFIG or --kubeconfig.
 * --namespace is the operator's namespace (compiled objects, the leader Lease).
 */
import { readFileSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";
import {
  BUILTIN_PLUGINS,
  COMMON_OPTIONS,
  COMMON_USAGE,
  DEFAULT_PIN_ROOT,
  OBSERVABILITY_OPTIONS,
  OBSERVABILITY_USAGE,
  createLogger,
  observabilitySettings,
  parseDuration,
  helpAsked,
  operatorError,
  parseListenAddress,
  parseCommand,
  parseLogLevel,
  runCli,
  signalled,
} from "@ebpf-operator/core";
import { startClusterAgent } from "./agent/cluster-agent.js";
import { compileServer } from "./compiler/compile-server-cli.js";
import { startOperator } from "./operator.js";
import type { SecureServingOptions } from "./serving/secure-serving.js";

const SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
const DEFAULT_CACHE_DIR = "/var/cache/ebpf-operator";

const USAGE = `usage:
  ebpf-operator run [flags]                     the controller
  ebpf-operator agent --node-name NODE [flags]  the node agent (cluster mode)
  ebpf-operator compile-server --socket PATH    the sandboxed compiler (its own container, no token)
  ebpf-operator --version

Run \`ebpf-operator <command> --help\` for a command's flags.`;

const SERVING_USAGE = `  --tls-cert-file file               serving certificate (PEM; a Secret volume), re-read on rotation;
                                     without it a self-signed one is served until the file exists
  --tls-private-key-file file        its key
  --auth-cache-ttl DUR               how long an allowed TokenReview/SubjectAccessReview is cached (default 1m)
  Every endpoint but /healthz and /readyz takes a bearer token (401 without, 403 without the right).`;

const KUBE_USAGE = `  --kubeconfig file                  default: in-cluster service account, else $KUBECONFIG
  --namespace ns                     the operator's namespace (default: the service account's, else ebpf-operator-system)
  --cache-dir dir is ${DEFAULT_CACHE_DIR} by default; --plugin replaces ${BUILTIN_PLUGINS.join(", ")}`;

const RUN_USAGE = `usage: ebpf-operator run [flags]

${COMMON_USAGE}
${KUBE_USAGE}
  --no-leader-elect                  reconcile without holding the leader Lease (one replica only)
  --compiler-socket path             the compile server's Unix socket (the deployment's compiler
                                     container); without it clang runs in this process, sandboxed
  --no-source-scan                   only for tests proving the sandbox alone keeps files out of reach
  --manage-serving-certs             the leader makes and rotates the serving CA and certificates
                                     (Secrets <prefix>-ca, <prefix>-agent-tls, <prefix>-metrics-tls;
                                     ConfigMap <prefix>-serving-ca); off when cert-manager makes them
  --serving-cert-prefix name         default ebpf-operator
  --agent-service name               the agents' metrics Service (default ebpf-operator-agent-metrics)
  --metrics-service name             the operator's metrics Service (default ebpf-operator-metrics)
${SERVING_USAGE}

--listen defaults to 0.0.0.0:8443. /metrics needs \`get\` on the non-resource URL /metrics.`;

const AGENT_USAGE = `usage: ebpf-operator agent --node-name NODE [flags]

  --node-name node                   this node's name (default $NODE_NAME; required)
  --pin-root dir                     bpffs directory for pins (default ${DEFAULT_PIN_ROOT})
${COMMON_USAGE}
${KUBE_USAGE}
${SERVING_USAGE}

--listen defaults to 0.0.0.0:9442. /metrics and /status need \`get ebpfmaps/metrics\` in all namespaces;
/namespaces/<ns>/metrics and /namespaces/<ns>/status need it in <ns>.

Self-observability and forwarding:
${OBSERVABILITY_USAGE}`;

const KUBE_OPTIONS = {
  ...COMMON_OPTIONS,
  kubeconfig: { type: "string" },
  namespace: { type: "string" },
  "tls-cert-file": { type: "string" },
  "tls-private-key-file": { type: "string" },
  "auth-cache-ttl": { type: "string" },
} as const;
const RUN_OPTIONS = {
  ...KUBE_OPTIONS,
  "no-leader-elect": { type: "boolean" },
  "manage-serving-certs": { type: "boolean" },
  "serving-cert-prefix": { type: "string" },
  "agent-service": { type: "string" },
  "metrics-service": { type: "string" },
  "compiler-socket": { type: "string" },
  // Only for tests that prove the sandbox alone keeps files out of reach (docs/security.md).
  "no-source-scan": { type: "boolean" },
} as const;

function servingOptions(values: { "tls-cert-file"?: string; "tls-private-key-file"?: string; "auth-cache-ttl"?: string }): SecureServingOptions {
  const cert = values["tls-cert-file"];
  const key = values["tls-private-key-file"];
  if ((cert === undefined) !== (key === undefined)) throw operatorError("EOP_ERR_CONFIG", "--tls-cert-file and --tls-private-key-file go together");
  const ttl = values["auth-cache-ttl"];
  return {
    ...(cert && key && { tlsCertFile: cert, tlsKeyFile: key }),
    ...(ttl !== undefined && { authCacheTtlMs: parseDuration("--auth-cache-ttl", ttl) }),
  };
}
const AGENT_OPTIONS = { ...KUBE_OPTIONS, "node-name": { type: "string" }, "pin-root": { type: "string" }, ...OBSERVABILITY_OPTIONS } as const;

function kubeConfigFrom(path: string | undefined): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (path) kubeConfig.loadFromFile(path);
  else kubeConfig.loadFromDefault();
  return kubeConfig;
}

async function run(args: string[]): Promise<number> {
  const parsed = parseCommand("ebpf-operator run", args, RUN_OPTIONS);
  if (helpAsked(parsed, RUN_USAGE)) return 0;
  const { values } = parsed;
  const logger = createLogger({ level: parseLogLevel(values["log-level"]), component: "ebpf-operator" });
  const listen = values.listen ?? "0.0.0.0:8443";
  parseListenAddress(listen); // a bad address is a usage error before anything starts
  const serving = servingOptions(values);
  const operator = await startOperator({
    ...serving,
    ...(values["manage-serving-certs"] && {
      servingCerts: {
        prefix: values["serving-cert-prefix"] ?? "ebpf-operator",
        agentService: values["agent-service"] ?? "ebpf-operator-agent-metrics",
        metricsService: values["metrics-service"] ?? "ebpf-operator-metrics",
      },
    }),
    kubeConfig: kubeConfigFrom(values.kubeconfig),
    namespace: values.namespace ?? readServiceAccountNamespace() ?? "ebpf-operator-system",
    cacheDir: values["cache-dir"] ?? DEFAULT_CACHE_DIR,
    plugins: values.plugin ?? BUILTIN_PLUGINS,
    listen,
    leaderElection: !values["no-leader-elect"],
    logger,
    ...(values["compiler-socket"] ? { compilerSocket: values["compiler-socket"] } : {}),
    ...(values["no-source-scan"] ? { compiler: { sourceScan: false } } : {}),
  });
  await signalled();
  logger.info({}, "shutting down");
  await operator.stop();
  return 0;
}

async function agent(args: string[]): Promise<number> {
  const parsed = parseCommand("ebpf-operator agent", args, AGENT_OPTIONS);
  if (helpAsked(parsed, AGENT_USAGE)) return 0;
  const { values } = parsed;
  const nodeName = values["node-name"] ?? process.env.NODE_NAME;
  if (!nodeName)
    throw operatorError("EOP_ERR_CONFIG", "ebpf-operator agent: --node-name (or $NODE_NAME) is required: the agent selects EbpfMaps by its Node's labels");
  const logger = createLogger({ level: parseLogLevel(values["log-level"]), component: "ebpf-agent" });
  const listen = values.listen ?? "0.0.0.0:9442";
  parseListenAddress(listen);
  const serving = servingOptions(values);
  const running = await startClusterAgent({
    ...serving,
    kubeConfig: kubeConfigFrom(values.kubeconfig),
    nodeName,
    objectNamespace: values.namespace ?? readServiceAccountNamespace() ?? "ebpf-operator-system",
    pinRoot: values["pin-root"] ?? DEFAULT_PIN_ROOT,
    cacheDir: values["cache-dir"] ?? DEFAULT_CACHE_DIR,
    plugins: values.plugin ?? BUILTIN_PLUGINS,
    listen,
    logger,
    ...observabilitySettings(values),
  });
  await signalled();
  logger.info({}, "shutting down; programs stay pinned");
  await running.stop();
  return 0;
}

function readServiceAccountNamespace(): string | undefined {
  try {
    return readFileSync(SA_NAMESPACE, "utf8").trim();
  } catch {
    return undefined;
  }
}

runCli({
  program: "ebpf-operator",
  packageJson: new URL("../package.json", import.meta.url),
  usage: USAGE,
  commands: { run, agent, "compile-server": compileServer },
});
