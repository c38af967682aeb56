/**
 * Standalone mode: the agent with EbpfMap YAML files as its source and its own HTTP server.
 * This is what `ebpf-agent run` and `npm run demo` start.
 */
import { ensureBpffs } from "../kernel/mounts.js";
import { createLogger, type LogLevel, type Logger } from "../logger.js";
import { startHttpServer, parseListenAddress } from "../server/http-server.js";
import type { Agent } from "../agent/agent.js";
import { TOKENS, createAgentContainer, type AgentSettings } from "./container.js";
import { FileSource } from "../agent/file-source.js";

export const BUILTIN_PLUGINS = ["@ebpf-operator/plugin-kprobe", "@ebpf-operator/plugin-tracepoint", "@ebpf-operator/plugin-xdp", "@ebpf-operator/plugin-socket", "@ebpf-operator/plugin-cgroup"];
export const DEFAULT_LISTEN = "127.0.0.1:9442";

export interface StandaloneOptions extends AgentSettings {
  configPath: string;
  listen: string;
  logLevel?: LogLevel;
  logger?: Logger;
}

export interface RunningAgent {
  url: string;
  agent: Agent;
  stop(): Promise<void>;
}

export async function startStandaloneAgent(options: StandaloneOptions): Promise<RunningAgent> {
  const logger = options.logger ?? createLogger({ level: options.logLevel });
  const listen = parseListenAddress(options.listen);
  await ensureBpffs(options.pinRoot);
  const container = await createAgentContainer(options, logger);
  const registry = container.get(TOKENS.PluginRegistry);
  const metrics = container.get(TOKENS.AgentMetrics);
  for (const report of registry.reports) {
    metrics.plugins.set({ plugin: report.meta?.name ?? report.specifier, version: report.meta?.version ?? "", loaded: String(report.loaded) }, 1);
    if (report.loaded) logger.info({ plugin: report.meta?.name, version: report.meta?.version, programTypes: report.meta?.programTypes }, "plugin loaded");
    else logger.error({ plugin: report.specifier, code: report.error?.code }, report.error?.message ?? "plugin failed to load");
  }
  const agent = container.get(TOKENS.Agent);
  const observability = container.get(TOKENS.Observability);
  let ready = false;
  const http = await startHttpServer(listen, {
    registry: container.get(TOKENS.MetricsRegistry),
    refresh: observability.refresh,
    ready: () => ready,
    status: () => ({
      mode: "standalone",
      config: options.configPath,
      ready,
      plugins: registry.reports,
      programTypes: registry.programTypes(),
      resources: agent.statuses(),
      problems: agent.problems(),
    }),
    logger,
  });
  observability.start();
  logger.info({ url: http.url, config: options.configPath, pinRoot: options.pinRoot }, "agent listening");
  const source = new FileSource({ path: options.configPath, logger, onSync: (desired, problems) => agent.sync(desired, problems) });
  try {
    await source.start();
    await agent.collectGarbage();
  } catch (error) {
    await http.close();
    await observability.stop();
    throw error;
  }
  ready = true;
  return {
    url: http.url,
    agent,
    stop: async () => {
      await source.stop();
      await observability.stop();
      await http.close();
      await agent.shutdown();
    },
  };
}
