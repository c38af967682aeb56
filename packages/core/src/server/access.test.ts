import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import type { Row, Scope } from "../scrape/family.js";
import { ComputedFamily, MetricRegistry } from "../scrape/registry.js";
import { routeOf, type AccessControl, type Identity, type ReadTarget } from "./access.js";
import { startHttpServer } from "./http-server.js";

/**
 * The routing and the order of checks, with an access control written out as a table (pure
 * logic); the real one (TokenReview + SubjectAccessReview) is tested against a real API server
 * in test/kube/reads.kube.test.ts.
 */
const TOKENS: Record<string, Identity> = { alice: { name: "alice", groups: [] }, admin: { name: "admin", groups: [] } };
const RIGHTS: Record<string, (target: ReadTarget) => boolean> = {
  alice: (t) => t.view === "namespace" && t.namespace === "team-a",
  admin: () => true,
};

const access: AccessControl = {
  async authenticate(header) {
    const token = /^Bearer (.+)$/.exec(header ?? "")?.[1];
    const identity = token ? TOKENS[token] : undefined;
    return identity ?? { status: 401, message: "Unauthorized" };
  },
  async authorize(identity, target) {
    return RIGHTS[identity.name]!(target) ? true : { status: 403, message: `Forbidden: ${identity.name} may not read ${target.path}` };
  },
};

function rows(name: string, namespaces: (string | undefined)[]): Row[] {
  return namespaces.map((namespace): Row => ({ name, namespace, labels: namespace ? { namespace, ebpfmap: "m" } : {}, value: 1 }));
}

describe("HTTP endpoints with access control", () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function serve() {
    const registry = new MetricRegistry();
    const computed: (Scope | undefined)[] = [];
    registry.register(
      new ComputedFamily("a_total", "tenant a's", "counter", (scope) => {
        computed.push(scope);
        return rows("a_total", ["team-a"]);
      }),
    );
    registry.register(new ComputedFamily("b_secret_total", "tenant b's help text", "counter", () => rows("b_secret_total", ["team-b"])));
    registry.register(new ComputedFamily("shared_total", "both", "counter", () => rows("shared_total", ["team-a", "team-b"])));
    registry.register(new ComputedFamily("ebpf_operator_agent_resources", "node-wide", "gauge", () => rows("ebpf_operator_agent_resources", [undefined])));
    const server = await startHttpServer(
      { host: "127.0.0.1", port: 0 },
      {
        metrics: (scope) => registry.read(scope, scope ? (f) => !f.name.startsWith("ebpf_operator_agent_") : undefined),
        ready: () => true,
        status: (scope) => ({ namespaces: scope?.namespaces ? [...scope.namespaces] : "all" }),
        namespaceViews: true,
        access,
        logger: createLogger({ level: "silent" }),
      },
    );
    close = server.close;
    const get = async (path: string, token?: string) => {
      const response = await fetch(`${server.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      return { status: response.status, body: await response.text(), headers: response.headers };
    };
    return { get, computed };
  }

  it("keep /healthz and /readyz open and answer 401 on every other path without credentials, before routing", async () => {
    const { get } = await serve();
    expect((await get("/healthz")).status).toBe(200);
    expect((await get("/readyz")).status).toBe(200);
    for (const path of ["/metrics", "/status", "/namespaces/team-a/metrics", "/namespaces/team-a/status", "/nope", "/namespaces/NOT_A_NAME/metrics"]) {
      const response = await get(path);
      expect(response.status, path).toBe(401);
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
    }
    expect((await get("/metrics", "forged")).status).toBe(401);
  });

  it("serve a namespace's view to whoever may read it: its series only, no other tenant's family names or help, no agent-wide family", async () => {
    const { get, computed } = await serve();
    const view = await get("/namespaces/team-a/metrics", "alice");
    expect(view.status).toBe(200);
    expect(view.body).toContain('a_total{namespace="team-a",ebpfmap="m"} 1');
    expect(view.body).toContain('shared_total{namespace="team-a",ebpfmap="m"} 1');
    expect(view.body).not.toContain("team-b");
    expect(view.body).not.toContain("b_secret_total");
    expect(view.body).not.toContain("tenant b's help text");
    expect(view.body).not.toContain("ebpf_operator_agent_");
    // The computed family was asked for team-a only (it computes nothing else).
    expect(computed.at(-1)?.namespaces).toEqual(new Set(["team-a"]));
    expect(JSON.parse((await get("/namespaces/team-a/status", "alice")).body)).toEqual({ namespaces: ["team-a"] });
  });

  it("answer 403 for another namespace, and for the whole node, to a tenant", async () => {
    const { get } = await serve();
    for (const path of ["/namespaces/team-b/metrics", "/namespaces/team-b/status", "/metrics", "/status"]) {
      const response = await get(path, "alice");
      expect(response.status, path).toBe(403);
      expect(response.body).not.toContain('team-b"');
    }
  });

  it("serve the whole node, agent-wide families included, to a cluster reader; unknown paths are 404 once authenticated", async () => {
    const { get } = await serve();
    const all = await get("/metrics", "admin");
    expect(all.status).toBe(200);
    expect(all.body).toContain('b_secret_total{namespace="team-b",ebpfmap="m"} 1');
    expect(all.body).toContain("ebpf_operator_agent_resources 1");
    expect((await get("/namespaces/team-b/metrics", "admin")).status).toBe(200);
    expect((await get("/nope", "admin")).status).toBe(404);
    expect((await get("/namespaces/Team_B/metrics", "admin")).status).toBe(404);
  });

  it("route only exact paths with a valid namespace name", () => {
    expect(routeOf("/metrics")).toEqual({ endpoint: "metrics", target: { view: "cluster", path: "/metrics" } });
    expect(routeOf("/namespaces/team-a/status")).toEqual({
      endpoint: "status",
      target: { view: "namespace", namespace: "team-a", path: "/namespaces/team-a/status" },
    });
    for (const path of [
      "/metrics/",
      "//metrics",
      "/namespaces//metrics",
      "/namespaces/a/b/metrics",
      "/namespaces/-a/metrics",
      `/namespaces/${"a".repeat(64)}/metrics`,
      "/namespaces/%2e%2e/metrics",
    ]) {
      expect(routeOf(path), path).toBeUndefined();
    }
  });
});
