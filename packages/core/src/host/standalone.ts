/**
 * Standalone mode: the agent host with EbpfMap YAML files as its source. This is what
 * `ebpf-agent run` and `npm run demo` start.
 */
import type { Agent } from "../agent/agent.js";
import { FileSource } from "../agent/file-source.js";
import { createLogger, type LogLevel, type Logger } from "../logger.js";
import { startAgentHost } from "./agent-host.js";
import type { AgentSettings } from "./container.js";

export const BUILTIN_PLUGINS = [
  "@ebpf-operator/plugin-kprobe",
  "@ebpf-operator/plugin-tracepoint",
  "@ebpf-operator/plugin-raw-tracepoint",
  "@ebpf-operator/plugin-fentry",
  "@ebpf-operator/plugin-xdp",
  "@ebpf-operator/plugin-socket",
  "@ebpf-operator/plugin-cgroup",
];
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
  const logger = options.logger ?? createLogger({ level: options.logLevel, component: "ebpf-agent" });
  const host = await startAgentHost({ ...options, logger, mode: "standalone", status: () => ({ config: options.configPath }) });
  const { agent } = host;
  const source = new FileSource({ path: options.configPath, logger, onSync: (desired, problems) => agent.sync(desired, problems) });
  try {
    await source.start();
    await agent.collectGarbage();
  } catch (error) {
    await host.stop();
    throw error;
  }
  host.markReady();
  return {
    url: host.url,
    agent,
    stop: async () => {
      await source.stop();
      await host.stop();
    },
  };
}
