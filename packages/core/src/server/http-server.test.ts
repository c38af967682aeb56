import { Agent, request } from "node:http";
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
});
