/**
 * `ebpf-operator compile-server`: the compiler in a container of its own, beside the operator
 * in the same pod. It mounts no service-account token and talks to nobody but the operator, over
 * a Unix socket in a volume only the two containers share; inside it, every clang run is in the
 * bubblewrap sandbox (required by default: no sandbox, no compile server). So tenant C is never
 * compiled on a file system that holds a credential. See docs/compiler.md and docs/security.md.
 *
 * A second listener (TCP) serves only /healthz and /readyz, for the kubelet's probes. The
 * compile metrics (ebpf_operator_compile_*) go out on the socket (GET /v1/metrics) and the
 * operator serves them on its authenticated HTTPS /metrics: this container holds no credential
 * to check a scraper's token with, so it serves no data over the network (docs/architecture.md).
 */
import { chmod, lstat, readFile, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Registry, collectDefaultMetrics } from "prom-client";
import {
  BpfCompiler,
  CompileError,
  CompileMetrics,
  describeError,
  type CompilerOptions,
  type Logger,
  type ToolchainInfo,
} from "@ebpf-operator/core/compile-host";
import { COMPILE_PATH, INFO_PATH, MAX_REQUEST_BYTES, METRICS_PATH, type CompileResponse, type ErrorResponse } from "./protocol.js";

export interface CompileServerOptions {
  socketPath: string;
  /** /healthz and /readyz (the kubelet's probes); nothing else is served over TCP. */
  listen: { host: string; port: number };
  compiler: Omit<CompilerOptions, "metrics" | "logger">;
  logger: Logger;
  /** Memory the server needs beside its compiles, for the start-up budget check. Default 256 MiB. */
  serverReserveBytes?: number;
  /** Where the container's memory limit is read; default the cgroup v2 then v1 files. */
  cgroupMemoryFiles?: string[];
}

export interface RunningCompileServer {
  /** http://host:port of the health listener. */
  url: string;
  info: ToolchainInfo;
  stop(): Promise<void>;
}

const CGROUP_MEMORY_FILES = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"];

/** The container's memory limit (its cgroup's), if it has one. */
export async function containerMemoryLimit(files: string[] = CGROUP_MEMORY_FILES): Promise<number | undefined> {
  for (const file of files) {
    let text: string;
    try {
      text = (await readFile(file, "utf8")).trim();
    } catch {
      continue;
    }
    if (text === "max") return undefined;
    const bytes = Number(text);
    // cgroup v1 says "no limit" with a page-rounded 2^63.
    if (Number.isFinite(bytes) && bytes > 0 && bytes < 2 ** 62) return bytes;
    return undefined;
  }
  return undefined;
}

/**
 * Refuses a configuration whose compiles could together exceed the container's memory limit:
 * the kernel would then OOM-kill the server (all compiles at once) instead of failing the one
 * compile that went over its own limit.
 */
export function checkMemoryBudget(
  limit: number | undefined,
  budget: { concurrency: number; memoryLimitBytes: number; tmpBytes: number; reserveBytes: number },
): string | undefined {
  if (limit === undefined) return undefined;
  const need = budget.concurrency * (budget.memoryLimitBytes + budget.tmpBytes) + budget.reserveBytes;
  if (need <= limit) return undefined;
  const mib = (n: number) => `${Math.round(n / 1024 / 1024)} MiB`;
  return (
    `${budget.concurrency} compiles x (${mib(budget.memoryLimitBytes)} memory + ${mib(budget.tmpBytes)} /tmp) + ${mib(budget.reserveBytes)} for the server = ${mib(need)}, ` +
    `above the container's memory limit of ${mib(limit)}; lower --memory-limit or --concurrency, or raise the container's limit`
  );
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) throw new RangeError(`request body exceeds ${MAX_REQUEST_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}

function listen(server: Server, target: string | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      server.off("error", reject);
      resolve();
    };
    if (typeof target === "string") server.listen(target, done);
    else server.listen(target.port, target.host, done);
  });
}

export async function startCompileServer(options: CompileServerOptions): Promise<RunningCompileServer> {
  const { logger } = options;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "ebpf_operator_compiler_process_" });
  const metrics = new CompileMetrics(registry);
  const compiler = new BpfCompiler({
    ...options.compiler,
    sandbox: options.compiler.sandbox ?? "required",
    metrics,
    logger: logger.child({ component: "compiler" }),
  });

  const limit = await containerMemoryLimit(options.cgroupMemoryFiles);
  const overBudget = checkMemoryBudget(limit, {
    concurrency: options.compiler.concurrency ?? 2,
    memoryLimitBytes: options.compiler.memoryLimitBytes ?? 512 * 1024 * 1024,
    tmpBytes: options.compiler.tmpBytes ?? 8 * 1024 * 1024,
    reserveBytes: options.serverReserveBytes ?? 256 * 1024 * 1024,
  });
  if (overBudget) throw new Error(`compile server: ${overBudget}`);

  // /healthz answers from the start and /readyz once the compiler is proven: the probe below
  // (clang, vmlinux.h from BTF, the sandbox) can take minutes on a busy node, and a liveness
  // probe must not kill the container for it.
  let ready = false;
  const status = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://compiler").pathname;
    if (path === "/healthz") res.writeHead(200).end("ok\n");
    else if (path === "/readyz") res.writeHead(ready ? 200 : 503).end(ready ? "ok\n" : "probing the compiler\n");
    else res.writeHead(404).end("not found\n");
  });
  await listen(status, options.listen);
  const closeStatus = () => new Promise<void>((r) => status.close(() => r()));

  // Probes clang, builds vmlinux.h and proves the sandbox; throws when a required sandbox is missing.
  let info: ToolchainInfo;
  try {
    info = await compiler.toolchainInfo();
  } catch (error) {
    await closeStatus();
    throw error;
  }
  if (info.sandbox.mode !== "bwrap") {
    logger.error(
      { sandbox: info.sandbox },
      "COMPILER SANDBOX UNAVAILABLE: tenant C is compiled unconfined; the include policy is the only barrier to this container's files",
    );
  }
  if (options.compiler.sourceScan === false)
    logger.warn({}, "the include policy's source scan is switched off (--no-source-scan): only the sandbox keeps files out of reach");

  const api = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://compiler").pathname;
    if (req.method === "GET" && path === INFO_PATH) return send(res, 200, info);
    if (req.method === "GET" && path === METRICS_PATH) {
      registry.getMetricsAsJSON().then(
        (families) => send(res, 200, families),
        (error: unknown) => send(res, 500, { error: { message: describeError(error) } } satisfies ErrorResponse),
      );
      return;
    }
    if (req.method !== "POST" || path !== COMPILE_PATH) return send(res, 404, { error: { message: `no ${req.method} ${path}` } } satisfies ErrorResponse);
    void (async () => {
      let request: { source: unknown; label: unknown; tenant: unknown };
      try {
        request = JSON.parse(await readBody(req)) as typeof request;
      } catch (error) {
        return send(res, 400, { error: { message: `unreadable request: ${describeError(error)}` } } satisfies ErrorResponse);
      }
      const { source, label, tenant } = request;
      if (typeof source !== "string" || typeof label !== "string" || typeof tenant !== "string") {
        return send(res, 400, { error: { message: "source, label and tenant must be strings" } } satisfies ErrorResponse);
      }
      const log = logger.child({ ebpfmap: label, tenant });
      try {
        const result = await compiler.compile({ source, label, tenant });
        const object = await readFile(result.objectPath);
        log.info(
          {
            hash: result.hash.slice(0, 12),
            cached: result.cached,
            durationMs: result.durationMs,
            queueWaitMs: result.queueWaitMs,
            clangRunsMs: result.clangRunsMs,
          },
          "compiled",
        );
        send(res, 200, {
          hash: result.hash,
          cached: result.cached,
          diagnostics: result.diagnostics,
          durationMs: result.durationMs,
          queueWaitMs: result.queueWaitMs,
          ...(result.clangRunsMs ? { clangRunsMs: result.clangRunsMs } : {}),
          object: object.toString("base64"),
        } satisfies CompileResponse);
      } catch (error) {
        if (error instanceof CompileError) {
          log.info({ code: error.code }, "compile failed");
          send(res, 422, { error: { code: error.code, message: error.message, diagnostics: error.diagnostics } } satisfies ErrorResponse);
        } else {
          log.warn({ error: describeError(error) }, "compile errored");
          send(res, 500, { error: { message: describeError(error) } } satisfies ErrorResponse);
        }
      }
    })();
  });
  // Never follow or delete anything but a stale socket of our own.
  const existing = await lstat(options.socketPath).catch(() => undefined);
  if (existing?.isSocket()) await rm(options.socketPath);
  else if (existing) {
    await closeStatus();
    throw new Error(`compile server: ${options.socketPath} exists and is not a socket`);
  }
  await listen(api, options.socketPath);
  await chmod(options.socketPath, 0o600);
  ready = true;

  const address = status.address() as AddressInfo;
  const url = `http://${address.address}:${address.port}`;
  logger.info({ url, socket: options.socketPath, sandbox: info.sandbox, clang: info.clang, resourceLimits: info.resourceLimits }, "compile server listening");

  return {
    url,
    info,
    stop: async () => {
      await Promise.all([new Promise<void>((r) => api.close(() => r())), closeStatus()]);
      await rm(options.socketPath, { force: true });
    },
  };
}
