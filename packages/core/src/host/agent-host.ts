/**
 * One host for the agent, whichever its source of desired state (EbpfMap files standalone, the
 * API server in a cluster): bpffs, the DI container with its plugins, the plugin report, the
 * HTTP endpoints, self-observability, readiness and shutdown. The source only feeds
 * `agent.sync()` and adds its fields to `/status`.
 */
import type { Container } from "inversify";
import type { Agent } from "../agent/agent.js";
import { ensureBpffs } from "../kernel/mounts.js";
import type { Logger } from "../logger.js";
import type { AccessControl } from "../server/access.js";
import { parseListenAddress, startHttpServer, type TlsCredentials } from "../server/http-server.js";
import { TOKENS, createAgentContainer, type AgentSettings } from "./container.js";
import { applyAgentGcFlags } from "./gc-flags.js";
import { applyMainThreadSlice } from "./sched-slice.js";
import { reportPlugins } from "./plugins.js";

export interface AgentHostOptions extends AgentSettings {
  /** `host:port` of the HTTP endpoints. */
  listen: string;
  logger: Logger;
  /** Shown in `/status` and the start-up log. */
  mode: "standalone" | "cluster";
  /** Rebinds services before the agent is built (cluster mode: where objects come from). */
  configure?(container: Container): void;
  /** The source's own fields in `/status`. */
  status?(): Record<string, unknown>;
  /** HTTPS with this certificate (rotated through `setCertificate`); absent: plain HTTP. */
  tls?: TlsCredentials;
  /** Who may read which view; absent: every endpoint is open (the standalone default). */
  access?: AccessControl;
}

export interface AgentHost {
  agent: Agent;
  container: Container;
  url: string;
  /** The first sync is done: `/readyz` answers 200 from now on. */
  markReady(): void;
  /** Serves new connections with this certificate (HTTPS hosts only). */
  setCertificate(tls: TlsCredentials): void;
  /** Stops serving and closes the agent's handles; pins stay for a restarted agent to adopt. */
  stop(): Promise<void>;
}

export async function startAgentHost(options: AgentHostOptions): Promise<AgentHost> {
  const { logger } = options;
  // Scavenges on the main thread alone: no wait for helper threads during a scrape (gc-flags.ts).
  applyAgentGcFlags();
  // A short scheduler slice: the event loop preempts a busy neighbour when it wakes (sched-slice.ts).
  applyMainThreadSlice(logger);
  const listen = parseListenAddress(options.listen);
  await ensureBpffs(options.pinRoot);
  const container = await createAgentContainer(options, logger);
  options.configure?.(container);
  const plugins = container.get(TOKENS.PluginRegistry);
  reportPlugins(plugins.reports, logger, container.get(TOKENS.AgentMetrics).plugins);
  const agent = container.get(TOKENS.Agent);
  // Program run-time stats, map fill, scrape timings and the optional remote-write push.
  const observability = container.get(TOKENS.Observability);
  let ready = false;
  const http = await startHttpServer(listen, {
    // A namespace's view reads only that namespace's maps (no whole-node read per tenant scrape).
    metrics: (scope) => {
      const namespace = scope?.namespaces?.size === 1 ? [...scope.namespaces][0]! : undefined;
      return namespace === undefined ? observability.read() : observability.readNamespace(namespace);
    },
    ready: () => ready,
    status: (scope) => {
      if (scope?.namespaces) {
        const namespaces = scope.namespaces;
        return {
          mode: options.mode,
          ...options.status?.(),
          namespace: [...namespaces][0],
          resources: agent.statuses().filter((s) => namespaces.has(s.namespace)),
        };
      }
      return {
        mode: options.mode,
        ...options.status?.(),
        ready,
        plugins: plugins.reports,
        programTypes: plugins.programTypes(),
        resources: agent.statuses(),
        problems: agent.problems(),
      };
    },
    namespaceViews: true,
    ...(options.access && { access: options.access }),
    ...(options.tls && { tls: options.tls }),
    logger,
  });
  observability.start();
  logger.info({ url: http.url, mode: options.mode, pinRoot: options.pinRoot, authenticated: options.access !== undefined }, "agent listening");
  let stopped: Promise<void> | undefined;
  return {
    agent,
    container,
    url: http.url,
    markReady: () => void (ready = true),
    setCertificate: (tls) => http.setCertificate(tls),
    stop: () =>
      (stopped ??= (async () => {
        await observability.stop();
        await http.close();
        await agent.shutdown();
      })()),
  };
}
