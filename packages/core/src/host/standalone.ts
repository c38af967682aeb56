/**
 * Standalone mode: the agent host with EbpfMap YAML files as its source. This is what
 * `ebpf-agent run` and `npm run demo` start.
 */
import type { Agent } from "../agent/agent.js";
import { FileSource } from "../agent/file-source.js";
import type { BpfCompiler, SandboxStatus, ToolchainInfo } from "../compiler/index.js";
import { describeError } from "../errors.js";
import { createLogger, type LogLevel, type Logger } from "../logger.js";
import { startAgentHost } from "./agent-host.js";
import { TOKENS, type AgentSettings } from "./container.js";

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

/** What /status says about the compiler. */
export interface CompilerReport {
  sandbox: SandboxStatus | { mode: "unknown" };
  clang?: string;
  resourceLimits?: string;
  /** Present when tenant code is compiled without the sandbox, or the compiler cannot run. */
  warning?: string;
}

/**
 * Probes the compiler once at start. Without the sandbox, clang compiles the manifests' C with
 * this agent's privileges: said on stderr in capitals, as an error log line and in /status.
 */
async function describeCompiler(compiler: BpfCompiler, logger: Logger): Promise<CompilerReport> {
  let info: ToolchainInfo;
  try {
    info = await compiler.toolchainInfo();
  } catch (error) {
    const warning = `the compiler is unavailable: ${describeError(error)}; every resource will fail to compile`;
    logger.error({ error: describeError(error) }, warning);
    return { sandbox: { mode: "unknown" }, warning };
  }
  const report: CompilerReport = { sandbox: info.sandbox, clang: info.clang, resourceLimits: info.resourceLimits };
  if (info.sandbox.mode !== "bwrap") {
    report.warning =
      `COMPILER SANDBOX UNAVAILABLE: clang compiles the manifests' C unconfined, as this agent's user, with only the include policy between it and this machine's files ` +
      `(${info.sandbox.reason ?? "no reason given"}). Install bubblewrap (Debian: apt-get install bubblewrap) and run only manifests you trust until then.`;
    process.stderr.write(`\n*** ${report.warning} ***\n\n`);
    logger.error({ sandbox: info.sandbox }, report.warning);
  } else {
    logger.info({ sandbox: info.sandbox, clang: info.clang }, "compiler sandbox ready");
  }
  return report;
}

export async function startStandaloneAgent(options: StandaloneOptions): Promise<RunningAgent> {
  const logger = options.logger ?? createLogger({ level: options.logLevel, component: "ebpf-agent" });
  let compiler: CompilerReport = { sandbox: { mode: "unknown" }, warning: "the compiler is being probed" };
  const host = await startAgentHost({ ...options, logger, mode: "standalone", status: () => ({ config: options.configPath, compiler }) });
  const { agent } = host;
  // Probed beside start-up (the first compile waits for the same probe): a slow probe (a large
  // /usr/include on a slow file system) does not hold /healthz back.
  compiler = await describeCompiler(host.container.get(TOKENS.Compiler), logger);
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
