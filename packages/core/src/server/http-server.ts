/**
 * The HTTP endpoints of every process (standalone agent, cluster agent, operator): `/metrics`
 * (Prometheus text), `/healthz` (the process serves), `/readyz` (the first sync is done), and
 * where the process has one, `/status` (JSON: every resource's phase, conditions and last error;
 * plugins; manifest problems).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream";
import { constants as zlibConstants, createGzip } from "node:zlib";
import { describeError, operatorError } from "../errors.js";
import type { Logger } from "../logger.js";
import { TEXT_CONTENT_TYPE, type RegistryRead } from "../scrape/registry.js";
import { writeExposition } from "./metrics-stream.js";

export interface HttpHandlers {
  /** One scrape of every metric family (reads the maps). */
  metrics(): Promise<RegistryRead>;
  ready(): boolean;
  /** `/status`; absent: 404. */
  status?(): unknown;
  logger: Logger;
}

export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw operatorError("EOP_ERR_CONFIG", `--listen "${text}" is not host:port (e.g. 127.0.0.1:9442)`);
  return { host: match[1] ?? (match[2] || "0.0.0.0"), port };
}

export async function startHttpServer(address: ListenAddress, handlers: HttpHandlers): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    handle(request, response, handlers).catch((error: unknown) => {
      handlers.logger.error({ url: request.url, error: describeError(error) }, "request failed");
      // Half a body must not look like a whole one: a failure mid-stream aborts the response.
      if (response.headersSent) response.destroy();
      else response.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end(`internal error: ${describeError(error)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  return {
    server,
    url: `http://${host}:${bound.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Whether an Accept-Encoding header accepts gzip (`gzip`, `x-gzip` or `*`, with a q-value above 0),
 * as Prometheus' scrapes do.
 */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  let star: boolean | undefined;
  for (const part of header.split(",")) {
    const [coding = "", ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    const accepted = q === undefined || Number(q) > 0;
    if (coding.trim() === "gzip" || coding.trim() === "x-gzip") return accepted;
    if (coding.trim() === "*") star = accepted;
  }
  return star ?? false;
}

async function handle(request: IncomingMessage, response: ServerResponse, handlers: HttpHandlers): Promise<void> {
  const path = new URL(request.url ?? "/", "http://agent").pathname;
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { allow: "GET, HEAD" }).end();
    return;
  }
  switch (path) {
    case "/metrics": {
      const read = await handlers.metrics();
      try {
        const gzip = acceptsGzip(request.headers["accept-encoding"]);
        response.writeHead(200, { "content-type": TEXT_CONTENT_TYPE, vary: "accept-encoding", ...(gzip ? { "content-encoding": "gzip" } : {}) });
        if (request.method === "HEAD") response.end();
        else if (!gzip) await writeExposition(read, response);
        else {
          // Compressed on the libuv pool, off the event loop. Level 1: the text is repetitive, so
          // the fastest level already takes most of the size off (docs/benchmarks.md measures it).
          const compressor = createGzip({ level: zlibConstants.Z_BEST_SPEED });
          pipeline(compressor, response, () => undefined);
          await writeExposition(read, compressor);
        }
      } finally {
        read.release?.();
      }
      return;
    }
    case "/healthz":
      response.writeHead(200, { "content-type": "text/plain; charset=utf-8" }).end("ok\n");
      return;
    case "/readyz": {
      const ready = handlers.ready();
      response.writeHead(ready ? 200 : 503, { "content-type": "text/plain; charset=utf-8" }).end(ready ? "ok\n" : "initial sync not done\n");
      return;
    }
    case "/status":
      if (!handlers.status) break;
      response.writeHead(200, { "content-type": "application/json" }).end(`${JSON.stringify(handlers.status(), null, 2)}\n`);
      return;
  }
  switch (path) {
    default:
      response
        .writeHead(404, { "content-type": "text/plain; charset=utf-8" })
        .end(`not found: try /metrics,${handlers.status ? " /status," : ""} /healthz, /readyz\n`);
  }
}
