/** `ebpf-operator run`: the controller. Loaded by cli.ts only for this command. */
import {
  BUILTIN_PLUGINS,
  COMMON_USAGE,
  createLogger,
  parseListenAddress,
  parseCommand,
  parseLogLevel,
  helpAsked,
  operatorError,
  signalled,
} from "@ebpf-operator/core";
import { DEFAULT_COMPILE_REQUESTS_PER_NAMESPACE, startOperator } from "../operator.js";
import { DEFAULT_CACHE_DIR, KUBE_OPTIONS, KUBE_USAGE, SERVING_USAGE, kubeConfigFrom, readServiceAccountNamespace, servingOptions } from "./kube-flags.js";

const RUN_USAGE = `usage: ebpf-operator run [flags]

${COMMON_USAGE}
${KUBE_USAGE}
  --no-leader-elect                  reconcile without holding the leader Lease (one replica only)
  --compiler-socket path             the compile server's Unix socket (the deployment's compiler
                                     container); without it clang runs in this process, sandboxed
  --compile-requests-per-namespace n compile requests kept outstanding per namespace (default ${DEFAULT_COMPILE_REQUESTS_PER_NAMESPACE})
  --no-source-scan                   only for tests proving the sandbox alone keeps files out of reach
  --manage-serving-certs             the leader makes and rotates the serving CA and certificates
                                     (Secrets <prefix>-ca, <prefix>-agent-tls, <prefix>-metrics-tls;
                                     ConfigMap <prefix>-serving-ca); off when cert-manager makes them
  --serving-cert-prefix name         default ebpf-operator
  --agent-service name               the agents' metrics Service (default ebpf-operator-agent-metrics)
  --metrics-service name             the operator's metrics Service (default ebpf-operator-metrics)
${SERVING_USAGE}

--listen defaults to 0.0.0.0:8443. /metrics needs \`get\` on the non-resource URL /metrics.`;

const RUN_OPTIONS = {
  ...KUBE_OPTIONS,
  "no-leader-elect": { type: "boolean" },
  "manage-serving-certs": { type: "boolean" },
  "serving-cert-prefix": { type: "string" },
  "agent-service": { type: "string" },
  "metrics-service": { type: "string" },
  "compiler-socket": { type: "string" },
  "compile-requests-per-namespace": { type: "string" },
  // Only for tests that prove the sandbox alone keeps files out of reach (docs/security.md).
  "no-source-scan": { type: "boolean" },
} as const;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand("ebpf-operator run", args, RUN_OPTIONS);
  if (helpAsked(parsed, RUN_USAGE)) return 0;
  const { values } = parsed;
  const logger = createLogger({ level: parseLogLevel(values["log-level"]), component: "ebpf-operator" });
  const listen = values.listen ?? "0.0.0.0:8443";
  parseListenAddress(listen); // a bad address is a usage error before anything starts
  const serving = servingOptions(values);
  const compileRequests = values["compile-requests-per-namespace"];
  const compileRequestsPerNamespace = compileRequests === undefined ? undefined : positiveInteger("--compile-requests-per-namespace", compileRequests);
  // Before anything that needs a clean stop exists (the lease, the servers): a SIGTERM while it starts stops it once started.
  const stop = signalled();
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
    ...(compileRequestsPerNamespace !== undefined && { compileRequestsPerNamespace }),
    ...(values["no-source-scan"] ? { compiler: { sourceScan: false } } : {}),
  });
  await stop;
  logger.info({}, "shutting down");
  await operator.stop();
  return 0;
}

function positiveInteger(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw operatorError("EOP_ERR_CONFIG", `${flag} "${text}" is not a positive integer`);
  return n;
}
