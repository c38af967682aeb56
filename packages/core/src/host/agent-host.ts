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
import { parseListenAddress, startHttpServer } from "../server/http-server.js";
import { TOKENS, createAgentContainer, type AgentSettings } from "./container.js";
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
}

export interface AgentHost {
  agent: Agent;
  container: Container;
  url: string;
  /** The first sync is done: `/readyz` answers 200 from now on. */
  markReady(): void;
  /** Stops serving and closes the agent's handles; pins stay for a restarted agent to adopt. */
  stop(): Promise<void>;
}

export async function startAgentHost(options: AgentHostOptions): Promise<AgentHost> {
  const { logger } = options;
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
    metrics: observability.read,
    ready: () => ready,
    status: () => ({
      mode: options.mode,
      ...options.status?.(),
      ready,
      plugins: plugins.reports,
      programTypes: plugins.programTypes(),
      resources: agent.statuses(),
      problems: agent.problems(),
    }),
    logger,
  });
  observability.start();
  logger.info({ url: http.url, mode: options.mode, pinRoot: options.pinRoot }, "agent listening");
  let stopped: Promise<void> | undefined;
  return {
    agent,
    container,
    url: http.url,
    markReady: () => void (ready = true),
    stop: () =>
      (stopped ??= (async () => {
        await observability.stop();
        await http.close();
        await agent.shutdown();
      })()),
  };
}
