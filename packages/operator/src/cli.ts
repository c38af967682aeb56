#!/usr/bin/env node
/**
 * `ebpf-operator run   [--kubeconfig FILE] [--namespace NS] [--listen host:port] [--cache-dir DIR]
 *                      [--plugin NAME]... [--no-leader-elect] [--log-level info]`
 *    the controller (one Deployment; replicas elect a leader)
 * `ebpf-operator agent --node-name NODE [--kubeconfig FILE] [--namespace NS] [--listen host:port]
 *                      [--pin-root DIR] [--cache-dir DIR] [--plugin NAME]...`
 *    the node agent in cluster mode (one per node, a DaemonSet)
 *
 * In a pod they use the in-cluster service account; elsewhere $KUBECONFIG or --kubeconfig.
 * --namespace is the operator's namespace (compiled objects, the leader Lease).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { BUILTIN_PLUGINS, DEFAULT_PIN_ROOT, OBSERVABILITY_OPTIONS, OBSERVABILITY_USAGE, createLogger, describeError, observabilitySettings, type LogLevel } from "@ebpf-operator/core";
import { startClusterAgent } from "./agent/cluster-agent.js";
import { startOperator } from "./operator.js";

const SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== "run" && command !== "agent") {
    process.stdout.write(
      "usage: ebpf-operator run [--kubeconfig FILE] [--namespace NS] [--listen host:port] [--cache-dir DIR] [--plugin NAME]... [--no-leader-elect]\n" +
        "       ebpf-operator agent --node-name NODE [--kubeconfig FILE] [--namespace NS] [--listen host:port] [--pin-root DIR] [--cache-dir DIR] [--plugin NAME]...\n" +
        `agent self-observability and forwarding:\n${OBSERVABILITY_USAGE}\n`,
    );
    return command === "--help" ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      kubeconfig: { type: "string" },
      namespace: { type: "string" },
      listen: { type: "string", default: command === "agent" ? "0.0.0.0:9442" : "0.0.0.0:8080" },
      "cache-dir": { type: "string", default: "/var/cache/ebpf-operator" },
      "pin-root": { type: "string", default: DEFAULT_PIN_ROOT },
      "node-name": { type: "string", default: process.env.NODE_NAME },
      plugin: { type: "string", multiple: true },
      "no-leader-elect": { type: "boolean", default: false },
      "log-level": { type: "string", default: "info" },
      ...OBSERVABILITY_OPTIONS,
    },
  });
  const logger = createLogger({ level: values["log-level"] as LogLevel });
  const kubeConfig = new KubeConfig();
  if (values.kubeconfig) kubeConfig.loadFromFile(values.kubeconfig);
  else kubeConfig.loadFromDefault();
  const namespace = values.namespace ?? readServiceAccountNamespace() ?? "ebpf-operator-system";
  if (command === "agent") {
    if (!values["node-name"]) throw new Error("--node-name (or $NODE_NAME) is required: the agent selects EbpfMaps by its Node's labels");
    const agent = await startClusterAgent({
      kubeConfig,
      nodeName: values["node-name"],
      objectNamespace: namespace,
      pinRoot: values["pin-root"],
      cacheDir: values["cache-dir"],
      plugins: values.plugin ?? BUILTIN_PLUGINS,
      listen: values.listen,
      logger,
      ...observabilitySettings(values),
    });
    await signalled();
    logger.info({}, "shutting down; programs stay pinned");
    await agent.stop();
    return 0;
  }
  const [host, port] = splitListen(values.listen);
  const operator = await startOperator({
    kubeConfig,
    namespace,
    cacheDir: values["cache-dir"],
    plugins: values.plugin ?? BUILTIN_PLUGINS,
    listen: { host, port },
    leaderElection: !values["no-leader-elect"],
    logger,
  });
  await signalled();
  logger.info({}, "shutting down");
  await operator.stop();
  return 0;
}

function signalled(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });
}

function readServiceAccountNamespace(): string | undefined {
  try {
    return readFileSync(SA_NAMESPACE, "utf8").trim();
  } catch {
    return undefined;
  }
}

function splitListen(text: string): [string, number] {
  const index = text.lastIndexOf(":");
  const port = Number(text.slice(index + 1));
  if (index < 0 || !Number.isInteger(port)) throw new Error(`--listen "${text}" is not host:port`);
  return [text.slice(0, index) || "0.0.0.0", port];
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`ebpf-operator: ${describeError(error)}\n`);
    process.exit(1);
  },
);
