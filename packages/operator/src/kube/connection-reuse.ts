/**
 * One keep-alive HTTPS agent for the API clients of a kube config. client-node 1.4 makes a new
 * `https.Agent` for every API call (`KubeConfig.applySecurityAuthentication`), so every request
 * opened its own TCP + TLS connection and parsed the CA, certificate and key again: with 1,000
 * EbpfMaps that was about 40% of the operator's busy CPU (docs/benchmarks.md, section 4).
 *
 * The agent is kept per set of TLS options: credentials that change (an exec plugin's rotated
 * client certificate) get a new agent; the old one is closed a minute later, after the requests
 * under way on it. Tokens travel in headers, which client-node still sets per request.
 *
 * Noticing a change runs on every request, so it compares bytes with the options the current
 * agent was made from (a memcmp of a few KiB) rather than hashing them anew (base64, JSON and
 * SHA-256 of the CA, certificate and key per request). A cache by the options object's identity
 * would never hit: client-node builds the options, and reads or decodes the files into new
 * buffers, for every request.
 */
import { Agent, type AgentOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

type Context = Parameters<KubeConfig["applySecurityAuthentication"]>[0];

const REUSED = Symbol("ebpf-operator.connectionReuse");
/** Connections kept open to the API server (the informers' watches use their own). */
const MAX_SOCKETS = 16;

/** The options that decide whom the agent trusts and who it is: a change means another agent. */
const TLS_OPTIONS = ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"] as const;
type TlsOptions = Pick<AgentOptions, (typeof TLS_OPTIONS)[number]>;

/** The TLS options as the current agent keeps them: buffers copied, so no later write to the caller's can change them. */
function snapshot(options: AgentOptions): TlsOptions {
  const copy = (value: unknown): unknown => (Buffer.isBuffer(value) ? Buffer.from(value) : Array.isArray(value) ? value.map((v: unknown) => copy(v)) : value);
  return Object.fromEntries(TLS_OPTIONS.map((name) => [name, copy(options[name])])) as TlsOptions;
}

/** Whether two values of a TLS option are the same credentials (buffers and arrays by content). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((value, i) => sameValue(value, b[i]));
  return false;
}

/** Whether `options` carry the credentials `kept` holds. */
function sameTlsOptions(kept: TlsOptions, options: AgentOptions): boolean {
  return TLS_OPTIONS.every((name) => sameValue(kept[name], options[name]));
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
  let current: { tls: TlsOptions; agent: Agent } | undefined;
  kubeConfig.applySecurityAuthentication = async (context: Context): Promise<void> => {
    await original(context);
    const made = context.getAgent();
    // Only a plain HTTPS agent is replaced (not a proxy's).
    if (!made || made.constructor !== Agent) return;
    const options = (made as Agent).options;
    if (!current || !sameTlsOptions(current.tls, options)) {
      const previous = current?.agent;
      if (previous) setTimeout(() => previous.destroy(), 60_000).unref();
      current = { tls: snapshot(options), agent: new Agent({ ...options, keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: MAX_SOCKETS }) };
    }
    context.setAgent(current.agent);
  };
  const close = (): void => current?.agent.destroy();
  target[REUSED] = close;
  return close;
}
