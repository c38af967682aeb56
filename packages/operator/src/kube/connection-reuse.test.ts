import { once } from "node:events";
import { Agent, createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { createCa, issueServingCertificate } from "../serving/certificates.js";
import { reuseConnections } from "./connection-reuse.js";

/** An HTTPS server answering every request with an empty NamespaceList, counting TCP connections. */
async function fakeApiServer(): Promise<{ server: Server; url: string; connections: () => number; requests: () => number; caPem: string }> {
  const now = new Date();
  const ca = await createCa("test-ca", now, 3_600_000);
  const serving = await issueServingCertificate(ca, ["localhost"], now, 3_600_000);
  let connections = 0;
  let requests = 0;
  const server = createServer({ cert: serving.cert, key: serving.key }, (_req, res) => {
    requests += 1;
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ apiVersion: "v1", kind: "NamespaceList", metadata: {}, items: [] }));
  });
  server.on("secureConnection", () => (connections += 1));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return { server, url: `https://localhost:${port}`, connections: () => connections, requests: () => requests, caPem: ca.cert };
}

function kubeConfigFor(url: string, caPem: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: url, caData: Buffer.from(caPem).toString("base64"), skipTLSVerify: false }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return kc;
}

describe("reuseConnections", () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it("client-node alone opens a connection per request; reused, one keep-alive connection carries them all", async () => {
    const api = await fakeApiServer();
    server = api.server;
    // The baseline, measured here: why this module exists (a failing baseline means client-node changed).
    const plain = kubeConfigFor(api.url, api.caPem).makeApiClient(CoreV1Api);
    for (let i = 0; i < 5; i++) await plain.listNamespace();
    expect(api.requests()).toBe(5);
    expect(api.connections()).toBe(5);

    const kc = kubeConfigFor(api.url, api.caPem);
    const close = reuseConnections(kc);
    expect(reuseConnections(kc)).toBe(close); // idempotent
    const client = kc.makeApiClient(CoreV1Api);
    for (let i = 0; i < 5; i++) await client.listNamespace();
    await Promise.all(Array.from({ length: 4 }, () => client.listNamespace()));
    expect(api.requests()).toBe(14);
    // Sequential requests share one connection; the 4 concurrent ones open at most 3 more.
    expect(api.connections() - 5).toBeGreaterThanOrEqual(1);
    expect(api.connections() - 5).toBeLessThanOrEqual(4);
    const afterBurst = api.connections();
    for (let i = 0; i < 5; i++) await client.listNamespace();
    expect(api.connections()).toBe(afterBurst);
    close();
  });

  it("verifies the server as before: a CA that did not sign it fails the request", async () => {
    const api = await fakeApiServer();
    server = api.server;
    const other = await createCa("other-ca", new Date(), 3_600_000);
    const kc = kubeConfigFor(api.url, other.cert);
    const close = reuseConnections(kc);
    await expect(kc.makeApiClient(CoreV1Api).listNamespace()).rejects.toThrow(/certificate/i);
    expect(api.requests()).toBe(0);
    close();
  });

  it("keeps one agent while the credentials stay the same (new buffers every request); a rotated certificate, key or CA gets a new one", async () => {
    const b64 = (text: string) => Buffer.from(text).toString("base64");
    const kc = new KubeConfig();
    const load = (ca: string, cert: string, key: string) =>
      kc.loadFromOptions({
        clusters: [{ name: "c", server: "https://127.0.0.1:1", caData: b64(ca), skipTLSVerify: false }],
        users: [{ name: "u", certData: b64(cert), keyData: b64(key) }],
        contexts: [{ name: "x", cluster: "c", user: "u" }],
        currentContext: "x",
      });
    load("ca-1", "cert-1", "key-1");
    const close = reuseConnections(kc);
    /** The agent a request would use (what client-node's request context is given). */
    const agentOfRequest = async (): Promise<Agent> => {
      let agent: unknown;
      const context = { setHeaderParam: () => undefined, getAgent: () => agent, setAgent: (a: unknown) => (agent = a) };
      await kc.applySecurityAuthentication(context as unknown as Parameters<KubeConfig["applySecurityAuthentication"]>[0]);
      expect(agent).toBeInstanceOf(Agent);
      return agent as Agent;
    };
    const first = await agentOfRequest();
    expect(first.options.keepAlive).toBe(true);
    expect(await agentOfRequest()).toBe(first);
    expect(await agentOfRequest()).toBe(first);
    // client-node decodes the kube config anew for every request: equal bytes, other buffers.
    load("ca-1", "cert-1", "key-1");
    expect(await agentOfRequest()).toBe(first);

    load("ca-1", "cert-2", "key-1"); // a rotated client certificate
    const second = await agentOfRequest();
    expect(second).not.toBe(first);
    expect(second.options.cert).toEqual(Buffer.from("cert-2"));
    expect(await agentOfRequest()).toBe(second);
    load("ca-1", "cert-2", "key-2");
    const third = await agentOfRequest();
    expect(third).not.toBe(second);
    expect(third.options.key).toEqual(Buffer.from("key-2"));
    load("ca-2", "cert-2", "key-2");
    const fourth = await agentOfRequest();
    expect(fourth).not.toBe(third);
    expect(fourth.options.ca).toEqual(Buffer.from("ca-2"));
    // Back to earlier credentials is a change too (only the current agent is kept).
    load("ca-1", "cert-1", "key-1");
    const fifth = await agentOfRequest();
    expect([first, second, third, fourth]).not.toContain(fifth);
    expect(fifth.options.ca).toEqual(Buffer.from("ca-1"));
    close();
  });
});
