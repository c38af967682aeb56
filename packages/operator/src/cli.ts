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

const SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
const DEFAULT_CACHE_DIR = "/var/cache/ebpf-operator";

const USAGE = `usage:
  ebpf-operator run [flags]                     the controller
  ebpf-operator agent --node-name NODE [flags]  the node agent (cluster mode)
  ebpf-operator compile-server --socket PATH    the sandboxed compiler (its own container, no token)
  ebpf-operator --version

Run \`ebpf-operator <command> --help\` for a command's flags.`;

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

--listen defaults to 0.0.0.0:8080.`;

const AGENT_USAGE = `usage: ebpf-operator agent --node-name NODE [flags]

  --node-name node                   this node's name (default $NODE_NAME; required)
  --pin-root dir                     bpffs directory for pins (default ${DEFAULT_PIN_ROOT})
${COMMON_USAGE}
${KUBE_USAGE}

--listen defaults to 0.0.0.0:9442.

Self-observability and forwarding:
${OBSERVABILITY_USAGE}`;

const KUBE_OPTIONS = { ...COMMON_OPTIONS, kubeconfig: { type: "string" }, namespace: { type: "string" } } as const;
const RUN_OPTIONS = {
  ...KUBE_OPTIONS,
  "no-leader-elect": { type: "boolean" },
  "compiler-socket": { type: "string" },
  // Only for tests that prove the sandbox alone keeps files out of reach (docs/security.md).
  "no-source-scan": { type: "boolean" },
} as const;
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
  const listen = values.listen ?? "0.0.0.0:8080";
  parseListenAddress(listen); // a bad address is a usage error before anything starts
  const operator = await startOperator({
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
  const running = await startClusterAgent({
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
