import { Agent, request } from "node:http";
import { createConnection, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { MetricRegistry } from "../scrape/registry.js";
import { startHttpServer, type RunningHttpServer } from "./http-server.js";

describe("HTTP server connections", () => {
  let server: RunningHttpServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("advertises a keep-alive longer than a scrape interval and serves the next request on the same connection", async () => {
    const registry = new MetricRegistry();
    server = await startHttpServer(
      { host: "127.0.0.1", port: 0 },
      { metrics: (scope) => registry.read(scope), ready: () => true, logger: createLogger({ level: "silent" }) },
    );
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<{ keepAlive: string | undefined; localPort: number }>((resolve, reject) => {
        const req = request(`${server!.url}${path}`, { agent }, (response) => {
          response.resume();
          response.on("end", () => resolve({ keepAlive: String(response.headers["keep-alive"]), localPort: req.socket!.localPort! }));
        });
        req.on("error", reject);
        req.end();
      });
    try {
      const first = await get("/metrics");
      expect(first.keepAlive).toBe("timeout=75");
      // Idle for a moment, then the same socket again (the client's local port is the same).
      await new Promise((r) => setTimeout(r, 200));
      const second = await get("/healthz");
      expect(second.localPort).toBe(first.localPort);
    } finally {
      agent.destroy();
    }
  });

  describe("connection limits (attack: a tenant's pod holds every connection)", () => {
    const silent = createLogger({ level: "silent" });
    const start = async () => {
      const registry = new MetricRegistry();
      server = await startHttpServer(
        { host: "127.0.0.1", port: 0 },
        { metrics: (scope) => registry.read(scope), ready: () => true, logger: silent, connectionLimits: { perPeer: 3, total: 5 } },
      );
      return Number(new URL(server.url).port);
    };
    const sockets: Socket[] = [];
    afterEach(() => {
      for (const socket of sockets.splice(0)) socket.destroy();
    });
    /** A TCP connection from `localAddress` (any 127/8 address is this host's) that sends nothing yet. */
    const connect = (port: number, localAddress: string) =>
      new Promise<Socket>((resolve, reject) => {
        const socket = createConnection({ host: "127.0.0.1", port, localAddress }, () => resolve(socket));
        sockets.push(socket);
        socket.on("error", () => undefined);
        socket.once("error", reject);
      });
    /** Whether the server closes the connection within `ms` (a held one stays open until the header timeout, 10 s). */
    const closedByServer = (socket: Socket, ms = 1_000) =>
      new Promise<boolean>((resolve) => {
        if (socket.destroyed) return resolve(true);
        const timer = setTimeout(() => resolve(false), ms);
        socket.once("close", () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    /** The status line of `GET /healthz` on the connection. */
    const healthz = (socket: Socket) =>
      new Promise<string>((resolve) => {
        let data = "";
        socket.on("data", (chunk: Buffer) => {
          data += chunk.toString();
          if (data.includes("\r\n")) resolve(data.slice(0, data.indexOf("\r\n")));
        });
        socket.write("GET /healthz HTTP/1.1\r\nHost: agent\r\n\r\n");
      });

    it("closes a peer's connections beyond its limit at once; its held ones, and other peers, are still served", async () => {
      const port = await start();
      const held = [await connect(port, "127.0.0.1"), await connect(port, "127.0.0.1"), await connect(port, "127.0.0.1")];
      const beyond = await connect(port, "127.0.0.1");
      expect(await closedByServer(beyond)).toBe(true);
      // Another peer (Prometheus, say) is served while the first holds its limit.
      const other = await connect(port, "127.0.0.2");
      expect(await healthz(other)).toBe("HTTP/1.1 200 OK");
      expect(await healthz(held[0]!)).toBe("HTTP/1.1 200 OK");
      // When one of the peer's connections closes, the peer may open another.
      held[1]!.destroy();
      await new Promise((r) => setTimeout(r, 100));
      const again = await connect(port, "127.0.0.1");
      expect(await closedByServer(again, 300)).toBe(false);
      expect(await healthz(again)).toBe("HTTP/1.1 200 OK");
    });

    it("closes connections beyond the total, whichever peer opens them", async () => {
      const port = await start();
      for (const address of ["127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.3"]) await connect(port, address);
      const sixth = await connect(port, "127.0.0.4");
      expect(await closedByServer(sixth)).toBe(true);
    });
  });
});
