/**
 * `ebpf-operator compile-server`: flags -> startCompileServer(). Sizes take Ki/Mi/Gi suffixes
 * like Kubernetes quantities, so the chart can pass the same numbers it sets as limits.
 */
import {
  COMPILER_DEFAULTS,
  createLogger,
  helpAsked,
  operatorError,
  parseCommand,
  parseListenAddress,
  parseLogLevel,
  signalled,
  type CompilerOptions,
} from "@ebpf-operator/core/compile-host";
import { MAX_OBJECT_BYTES } from "../shared/limits.js";
import { startCompileServer } from "./compile-server.js";

export const COMPILE_SERVER_USAGE = `usage: ebpf-operator compile-server --socket PATH [flags]

Compiles EbpfMap C for the operator, every clang run in a bubblewrap sandbox (docs/compiler.md).
Runs in a container of its own that mounts no service-account token; the operator connects
over the Unix socket.

  --socket path                      the Unix socket to serve (required)
  --listen host:port                 /healthz, /readyz for probes (default 0.0.0.0:8081); metrics go to the operator over the socket
  --cache-dir dir                    object cache (default /var/cache/ebpf-compiler)
  --concurrency n                    compiles at once (default ${COMPILER_DEFAULTS.concurrency})
  --per-namespace-concurrency n      compiles at once per namespace (default ${COMPILER_DEFAULTS.perTenantConcurrency})
  --memory-limit size                per-compile memory (default ${COMPILER_DEFAULTS.memoryLimitBytes}); the total must fit the container
  --tmp-size size                    the sandbox's /tmp (default ${COMPILER_DEFAULTS.tmpBytes})
  --timeout seconds                  wall time per compile (default ${COMPILER_DEFAULTS.timeoutMs / 1000})
  --cpu-limit seconds                CPU time per clang run (default: the wall time)
  --cache-max-size size              cache bound, least recently used out (default ${COMPILER_DEFAULTS.cacheMaxBytes})
  --max-object-size size             largest object (default ${MAX_OBJECT_BYTES}, what a ConfigMap carries)
  --include-dir dir                  an extra include directory; repeat it
  --sandbox required|auto            required (default): refuse to compile without the sandbox
  --no-source-scan                   only for tests proving the sandbox alone keeps files out of reach
  --log-level debug|info|warn|error  (default info)
Sizes are bytes or a number with Ki, Mi, Gi, k, M or G.`;

const OPTIONS = {
  socket: { type: "string" },
  listen: { type: "string" },
  "cache-dir": { type: "string" },
  concurrency: { type: "string" },
  "per-namespace-concurrency": { type: "string" },
  "memory-limit": { type: "string" },
  "tmp-size": { type: "string" },
  timeout: { type: "string" },
  "cpu-limit": { type: "string" },
  "cache-max-size": { type: "string" },
  "max-object-size": { type: "string" },
  "include-dir": { type: "string", multiple: true },
  sandbox: { type: "string" },
  "no-source-scan": { type: "boolean" },
  "log-level": { type: "string" },
} as const;

const UNITS: Record<string, number> = { "": 1, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

/** "512Mi" -> 536870912; plain numbers are bytes. */
export function parseSize(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(k|M|G|Ki|Mi|Gi)?$/.exec(text.trim());
  const bytes = match ? Math.floor(Number(match[1]) * (UNITS[match[2] ?? ""] ?? 1)) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0)
    throw operatorError("EOP_ERR_CONFIG", `--${flag} "${text}" is not a size (bytes, or a number with Ki, Mi, Gi, k, M or G)`);
  return bytes;
}

function positiveInteger(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw operatorError("EOP_ERR_CONFIG", `--${flag} "${text}" is not a positive integer`);
  return n;
}

export async function compileServer(args: string[]): Promise<number> {
  const parsed = parseCommand("ebpf-operator compile-server", args, OPTIONS);
  if (helpAsked(parsed, COMPILE_SERVER_USAGE)) return 0;
  const { values } = parsed;
  if (!values.socket)
    throw operatorError("EOP_ERR_CONFIG", "ebpf-operator compile-server: --socket PATH is required (the Unix socket the operator connects to)");
  const sandbox = values.sandbox ?? "required";
  if (sandbox !== "required" && sandbox !== "auto") throw operatorError("EOP_ERR_CONFIG", `--sandbox "${sandbox}" is not one of required, auto`);
  const listen = values.listen ?? "0.0.0.0:8081";
  const address = parseListenAddress(listen); // a bad address is a usage error before anything starts
  const compiler: Omit<CompilerOptions, "metrics" | "logger"> = {
    cacheDir: values["cache-dir"] ?? "/var/cache/ebpf-compiler",
    concurrency: positiveInteger("concurrency", values.concurrency ?? String(COMPILER_DEFAULTS.concurrency)),
    perTenantConcurrency: positiveInteger("per-namespace-concurrency", values["per-namespace-concurrency"] ?? String(COMPILER_DEFAULTS.perTenantConcurrency)),
    memoryLimitBytes: parseSize("memory-limit", values["memory-limit"] ?? String(COMPILER_DEFAULTS.memoryLimitBytes)),
    tmpBytes: parseSize("tmp-size", values["tmp-size"] ?? String(COMPILER_DEFAULTS.tmpBytes)),
    timeoutMs: positiveInteger("timeout", values.timeout ?? String(COMPILER_DEFAULTS.timeoutMs / 1000)) * 1000,
    cacheMaxBytes: parseSize("cache-max-size", values["cache-max-size"] ?? String(COMPILER_DEFAULTS.cacheMaxBytes)),
    maxObjectBytes: parseSize("max-object-size", values["max-object-size"] ?? String(MAX_OBJECT_BYTES)),
    sandbox,
    ...(values["cpu-limit"] ? { cpuTimeLimitSeconds: positiveInteger("cpu-limit", values["cpu-limit"]) } : {}),
    ...(values["include-dir"] ? { extraIncludeDirs: values["include-dir"] } : {}),
    ...(values["no-source-scan"] ? { sourceScan: false } : {}),
  };
  const logger = createLogger({ level: parseLogLevel(values["log-level"]), component: "ebpf-compiler" });
  const server = await startCompileServer({ socketPath: values.socket, listen: address, compiler, logger });
  await signalled();
  logger.info({}, "shutting down");
  await server.stop();
  return 0;
}
