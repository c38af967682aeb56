/** `ebpf-operator agent`: the node agent in cluster mode. Loaded by cli.ts only for this command. */
import {
  BUILTIN_PLUGINS,
  COMMON_USAGE,
  DEFAULT_PIN_ROOT,
  OBSERVABILITY_OPTIONS,
  OBSERVABILITY_USAGE,
  createLogger,
  helpAsked,
  observabilitySettings,
  operatorError,
  parseCommand,
  parseListenAddress,
  parseLogLevel,
  signalled,
} from "@ebpf-operator/core";
import { startClusterAgent } from "../agent/cluster-agent.js";
import { DEFAULT_CACHE_DIR, KUBE_OPTIONS, KUBE_USAGE, SERVING_USAGE, kubeConfigFrom, readServiceAccountNamespace, servingOptions } from "./kube-flags.js";

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

const AGENT_OPTIONS = { ...KUBE_OPTIONS, "node-name": { type: "string" }, "pin-root": { type: "string" }, ...OBSERVABILITY_OPTIONS } as const;

export async function agent(args: string[]): Promise<number> {
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
  // Before anything that needs a clean stop exists: a SIGTERM while it starts stops it once started.
  const stop = signalled();
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
  await stop;
  logger.info({}, "shutting down; programs stay pinned");
  await running.stop();
  return 0;
}
