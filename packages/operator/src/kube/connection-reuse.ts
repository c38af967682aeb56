/**
 * One keep-alive HTTPS agent for the API clients of a kube config. client-node 1.4 makes a new
 * `https.Agent` for every API call (`KubeConfig.applySecurityAuthentication`), so every request
 * opened its own TCP + TLS connection and parsed the CA, certificate and key again: with 1,000
 * EbpfMaps that was about 40% of the operator's busy CPU (docs/benchmarks.md, section 4).
 *
 * The agent is kept per set of TLS options: credentials that change (an exec plugin's rotated
 * client certificate) get a new agent; the old one is closed a minute later, after the requests
 * under way on it. Tokens travel in headers, which client-node still sets per request.
 */
import { createHash } from "node:crypto";
import { Agent, type AgentOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

type Context = Parameters<KubeConfig["applySecurityAuthentication"]>[0];

const REUSED = Symbol("ebpf-operator.connectionReuse");
/** Connections kept open to the API server (the informers' watches use their own). */
const MAX_SOCKETS = 16;

function optionsKey(options: AgentOptions): string {
  const hash = createHash("sha256");
  for (const value of [options.ca, options.cert, options.key, options.pfx, options.passphrase, options.rejectUnauthorized, options.servername]) {
    hash.update(JSON.stringify(Buffer.isBuffer(value) ? value.toString("base64") : (value ?? null)));
    hash.update("\0");
  }
  return hash.digest("hex");
}

/**
 * Makes the API clients `kubeConfig.makeApiClient` creates share keep-alive connections
 * (idempotent). Returns a function that closes them (for a clean stop).
 */
export function reuseConnections(kubeConfig: KubeConfig): () => void {
  const target = kubeConfig as KubeConfig & { [REUSED]?: () => void };
  const installed = target[REUSED];
  if (installed) return installed;
  const original = kubeConfig.applySecurityAuthentication.bind(kubeConfig);
  let current: { key: string; agent: Agent } | undefined;
  kubeConfig.applySecurityAuthentication = async (context: Context): Promise<void> => {
    await original(context);
    const made = context.getAgent();
    // Only a plain HTTPS agent is replaced (not a proxy's).
    if (!made || made.constructor !== Agent) return;
    const options = (made as Agent).options;
    const key = optionsKey(options);
    if (current?.key !== key) {
      const previous = current?.agent;
      if (previous) setTimeout(() => previous.destroy(), 60_000).unref();
      current = { key, agent: new Agent({ ...options, keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: MAX_SOCKETS }) };
    }
    context.setAgent(current.agent);
  };
  const close = (): void => current?.agent.destroy();
  target[REUSED] = close;
  return close;
}
