#!/usr/bin/env node
/**
 * `ebpf-agent`: the standalone agent.
 *
 *   ebpf-agent run --config <dir|file> [--listen 127.0.0.1:9442] [--pin-root DIR] [--cache-dir DIR]
 *                  [--plugin NAME]... [--log-level info] [--compile-sandbox auto|required] [--bwrap-path PATH]
 *                  [--compile-timeout SECONDS]
 *                  [--bpf-stats true|false] [--remote-write-url URL ...]
 *   ebpf-agent validate [--schema-only] [--plugin NAME]... [--cache-dir DIR] <file|dir>...
 *   ebpf-agent --version
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { operatorError } from "./errors.js";
import { COMMON_OPTIONS, COMMON_USAGE, helpAsked, parseCommand, parseLogLevel, runCli, signalled } from "./host/flags.js";
import { BUILTIN_PLUGINS, DEFAULT_LISTEN, startStandaloneAgent } from "./host/standalone.js";
import { validateManifests } from "./host/validate.js";
import { DEFAULT_PIN_ROOT } from "./loader/pin-layout.js";
import { parseListenAddress } from "./server/http-server.js";
import { OBSERVABILITY_OPTIONS, OBSERVABILITY_USAGE, observabilitySettings } from "./observability/options.js";

const USAGE = `usage:
  ebpf-agent run --config <dir|file> [flags]
  ebpf-agent validate [flags] <file|dir>...
  ebpf-agent --version

run       load every EbpfMap in the YAML file or directory, attach, pin, and serve
          /metrics, /status, /healthz, /readyz (default ${DEFAULT_LISTEN}); watches for changes
validate  check manifests as the agent's load does short of the kernel (schema, plugins and
          targets, sandboxed compile, metrics against the object's BTF); exit 1 on any problem

Run \`ebpf-agent <command> --help\` for a command's flags.`;

const COMPILE_USAGE = `  --compile-sandbox auto|required    clang runs in a bubblewrap sandbox (docs/compiler.md); auto (default):
                                     when bwrap works, otherwise unconfined with a loud warning (stderr,
                                     log, /status); required: refuse to compile without it
  --bwrap-path path                  bubblewrap's binary (default: bwrap on PATH, /usr/bin/bwrap)
  --compile-timeout seconds          wall (and CPU) time per compile (default 30; raise it on a slow
                                     machine, e.g. an emulated one)`;

const COMPILE_OPTIONS = {
  "compile-sandbox": { type: "string" },
  "bwrap-path": { type: "string" },
  "compile-timeout": { type: "string" },
} as const;

/** The compiler settings `run` and `validate` share: validate compiles as the load would. */
function compileSettings(values: { "compile-sandbox"?: string; "bwrap-path"?: string; "compile-timeout"?: string }): {
  compileSandbox: "auto" | "required";
  bwrapPath?: string;
  compileTimeoutMs?: number;
} {
  const compileSandbox = values["compile-sandbox"] ?? "auto";
  if (compileSandbox !== "auto" && compileSandbox !== "required")
    throw operatorError("EOP_ERR_CONFIG", `--compile-sandbox "${compileSandbox}" is not one of auto, required`);
  const compileTimeout = values["compile-timeout"] === undefined ? undefined : Number(values["compile-timeout"]);
  if (compileTimeout !== undefined && !(Number.isInteger(compileTimeout) && compileTimeout > 0))
    throw operatorError("EOP_ERR_CONFIG", `--compile-timeout "${values["compile-timeout"]}" is not a positive number of seconds`);
  return {
    compileSandbox,
    ...(values["bwrap-path"] ? { bwrapPath: values["bwrap-path"] } : {}),
    ...(compileTimeout ? { compileTimeoutMs: compileTimeout * 1000 } : {}),
  };
}

const RUN_USAGE = `usage: ebpf-agent run --config <dir|file> [flags]

  --config dir|file                  the EbpfMap manifests (required)
  --pin-root dir                     bpffs directory for pins (default ${DEFAULT_PIN_ROOT})
${COMPILE_USAGE}
${COMMON_USAGE}

--listen defaults to ${DEFAULT_LISTEN}; --plugin replaces the built-in plugin list
(${BUILTIN_PLUGINS.join(", ")}). Environment: EBPF_AGENT_PLUGINS (comma-separated) adds plugins,
EBPF_AGENT_CACHE_DIR sets the cache directory.

Self-observability and forwarding (docs/prometheus-grafana.md):
${OBSERVABILITY_USAGE}`;

const VALIDATE_USAGE = `usage: ebpf-agent validate [flags] <file|dir>...

  --schema-only                      check the schema and spec rules only (no plugins, no clang)
  --plugin name-or-path              as for run: replaces the built-in plugin list
  --cache-dir dir                    compiled objects are cached here (as for run)
${COMPILE_USAGE}

Checks every EbpfMap manifest in the files and directories: the schema and the spec's rules, then
each program's plugin and target, the code compiled in the agent's sandbox, the programs in the
object, and every metric against its map's key and value types from the object's BTF. What is
left to the load is what only the node's kernel answers (program types, targets, the verifier).
Prints one line per resource: "ok", "FAIL" (the manifest's fault) or "ERROR (not checked)" (no
clang, a broken plugin, no sandbox with --compile-sandbox required), and a "warn" line when clang
runs without its sandbox; exits 1 if any is not ok.`;

const VALIDATE_OPTIONS = {
  "schema-only": { type: "boolean" },
  plugin: COMMON_OPTIONS.plugin,
  "cache-dir": COMMON_OPTIONS["cache-dir"],
  ...COMPILE_OPTIONS,
} as const;

const RUN_OPTIONS = {
  ...COMMON_OPTIONS,
  config: { type: "string", short: "c" },
  "pin-root": { type: "string" },
  ...COMPILE_OPTIONS,
  ...OBSERVABILITY_OPTIONS,
} as const;

/** EBPF_AGENT_PLUGINS: plugins added to the list (comma-separated). */
function envPlugins(): string[] {
  return (process.env.EBPF_AGENT_PLUGINS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

async function run(args: string[]): Promise<number> {
  const parsed = parseCommand("ebpf-agent run", args, RUN_OPTIONS);
  if (helpAsked(parsed, RUN_USAGE)) return 0;
  const { values } = parsed;
  if (!values.config) throw operatorError("EOP_ERR_CONFIG", "ebpf-agent run: --config <dir|file> is required; see ebpf-agent run --help");
  const listen = values.listen ?? DEFAULT_LISTEN;
  parseListenAddress(listen); // a bad address is a usage error before anything starts
  const compile = compileSettings(values);
  // Before anything that needs a clean stop exists (bpffs mounted, programs loaded and pinned
  // by the first sync, the HTTP server): a SIGTERM while the agent starts then stops it once
  // started, instead of the default action killing it half-way.
  const stop = signalled();
  const running = await startStandaloneAgent({
    configPath: values.config,
    listen,
    pinRoot: values["pin-root"] ?? DEFAULT_PIN_ROOT,
    cacheDir: values["cache-dir"] ?? process.env.EBPF_AGENT_CACHE_DIR ?? join(homedir(), ".cache", "ebpf-operator"),
    plugins: [...(values.plugin ?? BUILTIN_PLUGINS), ...envPlugins()],
    logLevel: parseLogLevel(values["log-level"]),
    ...compile,
    ...observabilitySettings(values),
  });
  await stop;
  // Pins stay: a restarted agent adopts the running programs.
  await running.stop();
  return 0;
}

async function validate(args: string[]): Promise<number> {
  const parsed = parseCommand("ebpf-agent validate", args, VALIDATE_OPTIONS, true);
  if (helpAsked(parsed, VALIDATE_USAGE)) return 0;
  const { values, positionals: paths } = parsed;
  if (paths.length === 0) throw operatorError("EOP_ERR_CONFIG", "ebpf-agent validate: at least one file or directory is needed");
  const compile = compileSettings(values);
  const problems = await validateManifests({
    paths,
    ...compile,
    schemaOnly: values["schema-only"] ?? false,
    plugins: [...(values.plugin ?? BUILTIN_PLUGINS), ...envPlugins()],
    cacheDir: values["cache-dir"] ?? process.env.EBPF_AGENT_CACHE_DIR ?? join(homedir(), ".cache", "ebpf-operator"),
    write: (line) => void process.stdout.write(`${line}\n`),
  });
  return problems === 0 ? 0 : 1;
}

runCli({ program: "ebpf-agent", packageJson: new URL("../package.json", import.meta.url), usage: USAGE, commands: { run, validate } });
