import { createServer, type Server, type Socket } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { createLogger } from "@ebpf-operator/core";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { KubeAccessControl, agentAttributes } from "./kube-access.js";

/**
 * How the access control fails when the API server cannot answer, and that every failure is
 * counted. The API servers here are real sockets that misbehave (nothing listening; accepting
 * and never answering); the answers of a real API server are tested in
 * test/kube/reads.kube.test.ts.
 */
function kubeConfigFor(port: number): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "u", token: "x" }],
    contexts: [{ name: "ctx", cluster: "c", user: "u" }],
    currentContext: "ctx",
  });
  return kc;
}

async function counts(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric(`test_${name}`)!.get();
  return Object.fromEntries(metric.values.map((v) => [Object.values(v.labels).join("/"), v.value]));
}

describe("access control when the API server cannot answer", () => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  });

  async function listen(onConnection: (socket: Socket) => void): Promise<number> {
    const server = createServer(onConnection);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return (server.address() as { port: number }).port;
  }

  function control(port: number, options: { maxInFlight?: number; timeoutMs?: number } = {}) {
    const registry = new Registry();
    const access = new KubeAccessControl({
      kubeConfig: kubeConfigFor(port),
      attributes: agentAttributes,
      metricPrefix: "test_",
      logger: createLogger({ level: "silent" }),
      ...options,
    });
    access.register(registry);
    return { access, registry };
  }

  it("refuses a request without a bearer token with 401 and asks the API server nothing", async () => {
    let connections = 0;
    const port = await listen((socket) => {
      connections++;
      socket.destroy();
    });
    const { access, registry } = control(port);
    for (const header of [undefined, "", "Basic dXNlcjpwYXNz", "Bearer", `Bearer ${"a".repeat(17 * 1024)}`]) {
      expect(await access.authenticate(header)).toMatchObject({ status: 401 });
    }
    expect(connections).toBe(0);
    expect((await counts(registry, "http_authentications_total")).unauthenticated).toBe(5);
    expect((await counts(registry, "http_access_reviews_total"))["TokenReview/ok"]).toBe(0);
  });

  it("answers 503 when the API server is unreachable, counts the error, and does not cache it", async () => {
    // A port that was just free: nothing listens there.
    const port = await listen(() => undefined);
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const { access, registry } = control(port);
    expect(await access.authenticate("Bearer some-token")).toMatchObject({ status: 503 });
    expect(await access.authenticate("Bearer some-token")).toMatchObject({ status: 503 });
    expect((await counts(registry, "http_authentications_total")).error).toBe(2);
    // Not cached: each request tried again.
    expect((await counts(registry, "http_access_reviews_total"))["TokenReview/error"]).toBe(2);
    const denied = await access.authorize({ name: "alice", groups: [] }, { view: "namespace", namespace: "team-a", path: "/namespaces/team-a/metrics" });
    expect(denied).toMatchObject({ status: 503 });
    expect((await counts(registry, "http_authorizations_total"))["namespace/error"]).toBe(1);
    expect((await counts(registry, "http_access_reviews_total"))["SubjectAccessReview/error"]).toBe(1);
  });

  it("caps reviews in flight: beyond the cap 429, counted; one token asked at once shares one review", async () => {
    let connections = 0;
    // Accepts and never answers: every review hangs until its timeout.
    const port = await listen((socket) => {
      connections++;
      sockets.push(socket);
    });
    const { access, registry } = control(port, { maxInFlight: 2, timeoutMs: 1500 });
    const pending = [
      access.authenticate("Bearer token-1"),
      access.authenticate("Bearer token-1"),
      access.authenticate("Bearer token-2"),
      access.authenticate("Bearer token-3"),
    ];
    const results = await Promise.all(pending);
    expect(results.map((r) => ("status" in r ? r.status : 200))).toEqual([503, 503, 503, 429]);
    expect(connections).toBeLessThanOrEqual(2);
    const authentications = await counts(registry, "http_authentications_total");
    expect(authentications.throttled).toBe(1);
    expect(authentications.error).toBe(3);
    expect((await counts(registry, "http_access_reviews_total"))["TokenReview/error"]).toBe(2);
  });
});
