#!/usr/bin/env node
/**
 * `ebpf-operator run [--kubeconfig FILE] [--namespace NS] [--listen host:port] [--cache-dir DIR]
 *                    [--plugin NAME]... [--no-leader-elect] [--log-level info]`
 *
 * In a pod it uses the in-cluster service account; elsewhere $KUBECONFIG or --kubeconfig.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { BUILTIN_PLUGINS, createLogger, describeError, type LogLevel } from "@ebpf-operator/core";
import { startOperator } from "./operator.js";

const SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== "run") {
    process.stdout.write("usage: ebpf-operator run [--kubeconfig FILE] [--namespace NS] [--listen host:port] [--cache-dir DIR] [--plugin NAME]... [--no-leader-elect]\n");
    return command === "--help" ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      kubeconfig: { type: "string" },
      namespace: { type: "string" },
      listen: { type: "string", default: "0.0.0.0:8080" },
      "cache-dir": { type: "string", default: "/var/cache/ebpf-operator" },
      plugin: { type: "string", multiple: true },
      "no-leader-elect": { type: "boolean", default: false },
      "log-level": { type: "string", default: "info" },
    },
  });
  const logger = createLogger({ level: values["log-level"] as LogLevel });
  const kubeConfig = new KubeConfig();
  if (values.kubeconfig) kubeConfig.loadFromFile(values.kubeconfig);
  else kubeConfig.loadFromDefault();
  const namespace = values.namespace ?? readServiceAccountNamespace() ?? "ebpf-operator-system";
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
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });
  logger.info({}, "shutting down");
  await operator.stop();
  return 0;
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
