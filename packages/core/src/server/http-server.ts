/**
 * The HTTP endpoints of every process (standalone agent, cluster agent, operator): `/metrics`
 * (Prometheus text), `/healthz` (the process serves), `/readyz` (the first sync is done), and
 * where the process has one, `/status` (JSON: every resource's phase, conditions and last error;
 * plugins; manifest problems). The agent also serves one namespace's part of both:
 * `/namespaces/<ns>/metrics` and `/namespaces/<ns>/status`.
 *
 * With `tls` the endpoints are served over HTTPS (the certificate can be replaced while serving:
 * rotation). With `access` every request but `/healthz` and `/readyz` is authenticated first
 * (401 without valid credentials, whatever the path) and then authorized for the view it asks
 * for (403); without it everything is open (the standalone agent's local default).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { pipeline } from "node:stream";
import { constants as zlibConstants, createGzip } from "node:zlib";
import { describeError, operatorError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Scope } from "../scrape/family.js";
import { TEXT_CONTENT_TYPE, type RegistryRead } from "../scrape/registry.js";
import { isRefusal, routeOf, type AccessControl, type Refusal } from "./access.js";
import { writeExposition } from "./metrics-stream.js";

export interface HttpHandlers {
  /**
   * One scrape of every metric family (reads the maps). With a scope (a namespace view): that
   * namespace's series only, no agent-wide families, and only the maps of its resources are read.
   */
  metrics(scope?: Scope): Promise<RegistryRead>;
  ready(): boolean;
  /** `/status`; absent: 404. With a scope: that namespace's resources only. */
  status?(scope?: Scope): unknown;
  /** Serve `/namespaces/<ns>/metrics` and `/namespaces/<ns>/status` (the agent). */
  namespaceViews?: boolean;
  /** Authenticates and authorizes every request but /healthz and /readyz; absent: all open. */
  access?: AccessControl;
  /** Serve HTTPS with this certificate and key (PEM); absent: plain HTTP. */
  tls?: TlsCredentials;
  /** Open connections allowed (default `CONNECTION_LIMITS`). */
  connectionLimits?: ConnectionLimits;
  logger: Logger;
}

export interface ConnectionLimits {
  /** Per peer address: one client (a tenant's pod) cannot take every connection. */
  perPeer: number;
  /** All peers together: the process's file descriptors and memory stay bounded. */
  total: number;
}

/**
 * A scraper holds one connection per target (Prometheus: one, kept alive); 64 leaves room for a
 * few scrapers behind one address, and 2048 for a node's worth of peers.
 */
export const CONNECTION_LIMITS: ConnectionLimits = { perPeer: 64, total: 2048 };

export interface TlsCredentials {
  cert: string | Buffer;
  key: string | Buffer;
}

export interface ListenAddress {
  host: string;
  port: number;
}

export interface RunningHttpServer {
  server: Server;
  /** `http://host:port` or `https://host:port`. */
  url: string;
  /** Serves new connections with another certificate (rotation); TLS servers only. */
  setCertificate(tls: TlsCredentials): void;
  close(): Promise<void>;
}

export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw operatorError("EOP_ERR_CONFIG", `--listen "${text}" is not host:port (e.g. 127.0.0.1:9442)`);
  return { host: match[1] ?? (match[2] || "0.0.0.0"), port };
}

/** The TLS versions served: 1.2 and 1.3, as Kubernetes components serve by default. */
const MIN_TLS_VERSION = "TLSv1.2";

export async function startHttpServer(address: ListenAddress, handlers: HttpHandlers): Promise<RunningHttpServer> {
  const listener = (request: IncomingMessage, response: ServerResponse): void => {
    handle(request, response, handlers).catch((error: unknown) => {
      handlers.logger.error({ url: request.url, error: describeError(error) }, "request failed");
      // Half a body must not look like a whole one: a failure mid-stream aborts the response.
      if (response.headersSent) response.destroy();
      else response.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end(`internal error: ${describeError(error)}\n`);
    });
  };
  const { tls } = handlers;
  const secure = tls ? createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: MIN_TLS_VERSION }, listener) : undefined;
  const server: Server = secure ?? createServer(listener);
  // A slow client must not hold a connection (and its review) for ever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  // An idle connection outlives a scrape interval (Prometheus' default is 15-60 s), so a scraper
  // reuses it instead of paying a TLS handshake per scrape. Node's 5 s default also races a
  // client's own keep-alive timer on a busy machine: the client reuses a socket the server is
  // closing ("other side closed"). Clients learn the value from the Keep-Alive header.
  server.keepAliveTimeout = 75_000;
  limitConnections(server, handlers.connectionLimits ?? CONNECTION_LIMITS, handlers.logger);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  return {
    server,
    url: `${secure ? "https" : "http"}://${host}:${bound.port}`,
    setCertificate: (next) => {
      if (!secure) throw new Error("setCertificate: this server does not serve TLS");
      secure.setSecureContext({ cert: next.cert, key: next.key, minVersion: MIN_TLS_VERSION });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/**
 * Closes a new connection at once when its peer address already holds `perPeer` open connections
 * or the server `total` (checked on the TCP connection, before a TLS handshake or a request: an
 * idle or half-open connection costs as much as a busy one). Without it, one tenant's pod opening
 * connections and never finishing a request (each held up to the header or handshake timeout)
 * would exhaust the agent's descriptors and lock Prometheus out. Written here: Node's
 * `server.maxConnections` has no per-peer limit, and the per-peer one is what keeps the other
 * clients served. Refusals are logged at most once per 10 s (with how many), not per connection.
 */
function limitConnections(server: Server, limits: ConnectionLimits, logger: Logger): void {
  const open = new Map<string, number>();
  let total = 0;
  let refused = 0;
  let lastWarning = 0;
  server.on("connection", (socket: Socket) => {
    const peer = socket.remoteAddress ?? "unknown";
    const count = open.get(peer) ?? 0;
    if (count >= limits.perPeer || total >= limits.total) {
      socket.destroy();
      refused++;
      if (Date.now() - lastWarning >= 10_000) {
        logger.warn({ peer, open: count, total, refused, limits }, "refusing connections: too many open (per peer or in total)");
        lastWarning = Date.now();
        refused = 0;
      }
      return;
    }
    open.set(peer, count + 1);
    total++;
    socket.once("close", () => {
      total--;
      const left = (open.get(peer) ?? 1) - 1;
      if (left > 0) open.set(peer, left);
      else open.delete(peer);
    });
  });
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

const TEXT = { "content-type": "text/plain; charset=utf-8" };

function refuse(response: ServerResponse, refusal: Refusal): void {
  const headers: Record<string, string> = { ...TEXT };
  if (refusal.status === 401) headers["www-authenticate"] = 'Bearer realm="ebpf-operator"';
  if (refusal.status === 429 || refusal.status === 503) headers["retry-after"] = "1";
  response.writeHead(refusal.status, headers).end(`${refusal.message}\n`);
}

async function handle(request: IncomingMessage, response: ServerResponse, handlers: HttpHandlers): Promise<void> {
  const path = new URL(request.url ?? "/", "http://agent").pathname;
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { allow: "GET, HEAD" }).end();
    return;
  }
  switch (path) {
    case "/healthz":
      response.writeHead(200, TEXT).end("ok\n");
      return;
    case "/readyz": {
      const ready = handlers.ready();
      response.writeHead(ready ? 200 : 503, TEXT).end(ready ? "ok\n" : "initial sync not done\n");
      return;
    }
  }
  // Who is asking comes before what they ask for: without credentials every other path is a
  // 401, so an anonymous caller learns nothing about which paths or namespaces exist.
  const identity = handlers.access ? await handlers.access.authenticate(request.headers.authorization) : undefined;
  if (identity && isRefusal(identity)) return refuse(response, identity);

  const route = routeOf(path);
  const served = route && (route.target.view === "cluster" || handlers.namespaceViews) && (route.endpoint === "metrics" || handlers.status);
  if (!route || !served) {
    const views = handlers.namespaceViews ? " /namespaces/<namespace>/metrics, /namespaces/<namespace>/status," : "";
    response.writeHead(404, TEXT).end(`not found: try /metrics,${handlers.status ? " /status," : ""}${views} /healthz, /readyz\n`);
    return;
  }
  if (handlers.access && identity) {
    const allowed = await handlers.access.authorize(identity, route.target);
    if (allowed !== true) return refuse(response, allowed);
  }
  const scope: Scope | undefined = route.target.view === "namespace" ? { namespaces: new Set([route.target.namespace]) } : undefined;
  if (route.endpoint === "status") {
    response.writeHead(200, { "content-type": "application/json" }).end(`${JSON.stringify(handlers.status!(scope), null, 2)}\n`);
    return;
  }
  const read = await handlers.metrics(scope);
  try {
    // The cluster view and a tenant's view alike: gzip when the scraper asks for it.
    const gzip = acceptsGzip(request.headers["accept-encoding"]);
    response.writeHead(200, { "content-type": TEXT_CONTENT_TYPE, vary: "accept-encoding", ...(gzip ? { "content-encoding": "gzip" } : {}) });
    const omitEmpty = scope !== undefined;
    if (request.method === "HEAD") response.end();
    else if (!gzip) await writeExposition(read, response, omitEmpty);
    else {
      // Compressed on the libuv pool, off the event loop. Level 1: the text is repetitive, so
      // the fastest level already takes most of the size off (docs/benchmarks.md measures it).
      const compressor = createGzip({ level: zlibConstants.Z_BEST_SPEED });
      pipeline(compressor, response, () => undefined);
      await writeExposition(read, compressor, omitEmpty);
    }
  } finally {
    read.release?.();
  }
}
