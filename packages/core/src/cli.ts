#!/usr/bin/env node
/**
 * `ebpf-agent`: the standalone agent.
 *
 *   ebpf-agent run --config <dir|file> [--listen 127.0.0.1:9442] [--pin-root DIR] [--cache-dir DIR]
 *                  [--plugin NAME]... [--log-level info] [--bpf-stats true|false] [--remote-write-url URL ...]
 *   ebpf-agent validate <file|dir>...
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readManifests } from "./agent/file-source.js";
import { BUILTIN_PLUGINS, DEFAULT_LISTEN, startStandaloneAgent } from "./host/standalone.js";
import { describeError, operatorError } from "./errors.js";
import { OBSERVABILITY_OPTIONS, OBSERVABILITY_USAGE, observabilitySettings } from "./observability/options.js";
import { DEFAULT_PIN_ROOT } from "./loader/pin-layout.js";
import type { LogLevel } from "./logger.js";

const USAGE = `usage:
  ebpf-agent run --config <dir|file> [--listen host:port] [--pin-root dir] [--cache-dir dir]
                 [--plugin name-or-path]... [--log-level debug|info|warn|error]
                 [--bpf-stats true|false] [--remote-write-url url [--remote-write-* ...]]
  ebpf-agent validate <file|dir>...

run       load every EbpfMap in the YAML file or directory, attach, pin, and serve
          /metrics, /status, /healthz, /readyz (default ${DEFAULT_LISTEN}); watches for changes
validate  check manifests against the EbpfMap schema and exit (non-zero on any problem)

--plugin replaces the built-in plugin list (${BUILTIN_PLUGINS.join(", ")}); repeat it.
Environment: EBPF_AGENT_PLUGINS (comma-separated) adds plugins.

Self-observability and forwarding (docs/prometheus-grafana.md):
${OBSERVABILITY_USAGE}`;

const LOG_LEVELS = new Set(["debug", "info", "warn", "error", "silent"]);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  if (command === "validate") return validate(rest);
  if (command !== "run") {
    process.stderr.write(`ebpf-agent: unknown command "${command}"\n${USAGE}\n`);
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: "string", short: "c" },
      listen: { type: "string", default: DEFAULT_LISTEN },
      "pin-root": { type: "string", default: DEFAULT_PIN_ROOT },
      "cache-dir": { type: "string", default: process.env.EBPF_AGENT_CACHE_DIR ?? join(homedir(), ".cache", "ebpf-operator") },
      plugin: { type: "string", multiple: true },
      "log-level": { type: "string", default: "info" },
      ...OBSERVABILITY_OPTIONS,
    },
    strict: true,
  });
  if (!values.config) throw operatorError("EOP_ERR_CONFIG", "--config <dir|file> is required");
  const logLevel = values["log-level"];
  if (!LOG_LEVELS.has(logLevel)) throw operatorError("EOP_ERR_CONFIG", `--log-level "${logLevel}" is not one of ${[...LOG_LEVELS].join(", ")}`);
  const extra = (process.env.EBPF_AGENT_PLUGINS ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const running = await startStandaloneAgent({
    configPath: values.config,
    listen: values.listen,
    pinRoot: values["pin-root"],
    cacheDir: values["cache-dir"],
    plugins: [...(values.plugin ?? BUILTIN_PLUGINS), ...extra],
    logLevel: logLevel as LogLevel,
    ...observabilitySettings(values),
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  // Pins stay: a restarted agent adopts the running programs.
  await running.stop();
  return 0;
}

async function validate(paths: string[]): Promise<number> {
  if (paths.length === 0) throw operatorError("EOP_ERR_CONFIG", "validate needs at least one file or directory");
  let problems = 0;
  for (const path of paths) {
    const result = await readManifests(path);
    for (const r of result.resources) process.stdout.write(`ok   ${r.source}: EbpfMap "${r.ref.namespace}/${r.ref.name}"\n`);
    for (const p of result.problems) process.stdout.write(`FAIL ${p.message}\n`);
    problems += result.problems.length;
  }
  return problems === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`ebpf-agent: ${describeError(error)}\n`);
    process.exit(1);
  },
);
