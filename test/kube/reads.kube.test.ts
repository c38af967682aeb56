/**
 * The authenticated, per-namespace read path, end to end: a real kube-apiserver + etcd, the
 * operator (making the serving CA and certificates) and the agent as real processes, the real
 * kernel, service-account tokens from TokenRequest (real kubectl), the install's real RBAC rules,
 * and real Prometheus servers scraping over HTTPS with a bearer token.
 *
 * alice may read namespace A's view (ebpf-operator-view there), bob namespace B's
 * (ebpf-operator-edit), nobody nothing, prom everything (ebpf-operator-metrics-reader bound
 * cluster-wide).
 */
import { createPrivateKey, generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attachControlPlane, deleteNamespace } from "../helpers/kube/control-plane.js";
import { startClusterAgent } from "../helpers/kube/cluster-agent.js";
import { eventually } from "../helpers/kube/resources.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { runTimes, sampleValue } from "../helpers/metrics.js";
import { startLoggedProcess, type LoggedProcess } from "../helpers/node-process.js";
import { startPrometheus, type Prometheus } from "../helpers/prometheus.js";
import { secureGet } from "../helpers/secure-fetch.js";
import { createCa, issueServingCertificate } from "../../packages/operator/src/serving/certificates.js";

requireKernelCapabilities();

const cp = attachControlPlane();
const repo = new URL("../../", import.meta.url).pathname;
const cli = join(repo, "packages/operator/dist/cli.js");
const id = `${process.pid}`;
const SYSTEM = `eop-reads-system-${id}`;
const A = `eop-reads-a-${id}`;
const B = `eop-reads-b-${id}`;
const NODE = hostname();
const SERVER_NAME = `ebpf-operator-agent-metrics.${SYSTEM}.svc`;
const pinRoot = `/sys/fs/bpf/eop-test-reads-${id}`;
/** The install's cluster-scoped roles under names of this run (other test files install the real ones). */
const role = (name: string) => `${name}-reads-${id}`;

interface Secret {
  data: Record<string, string>;
}

describe("authenticated per-namespace reads of a node's metrics", () => {
  let workDir: string;
  let operator: LoggedProcess | undefined;
  let agent: LoggedProcess | undefined;
  let ca: string;
  const tokens: Record<string, string> = {};
  const prometheuses: Prometheus[] = [];

  const get = (path: string, token?: string) => secureGet(`${agent!.url}${path}`, { ca, servername: SERVER_NAME, ...(token !== undefined && { token }) });
  const secret = async (name: string) => JSON.parse(await cp.kubectlOk(["get", "secret", name, "-n", SYSTEM, "-o", "json"])) as Secret;
  const decode = (s: Secret, key: string) => Buffer.from(s.data[key]!, "base64").toString("utf8");
  const counter = (text: string, kind: string) => sampleValue(text, "ebpf_operator_agent_http_access_reviews_total", { kind, result: "ok" }) ?? 0;

  /** The install's ClusterRoles (from deploy/manifests), renamed for this run, and applied. */
  async function applyInstallRoles(): Promise<void> {
    const docs = ["22-rbac-tenants.yaml", "23-rbac-metrics-readers.yaml"].flatMap((f) =>
      parseAllDocuments(readFileSync(join(repo, "deploy/manifests", f), "utf8")).map(
        (d) => d.toJSON() as { kind: string; metadata: { name: string; labels?: object } },
      ),
    );
    for (const doc of docs.filter((d) => d.kind === "ClusterRole")) {
      doc.metadata = { name: role(doc.metadata.name) }; // no aggregation labels: the built-in roles stay as they are
      await cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify(doc) });
    }
  }

  async function serviceAccount(namespace: string, name: string): Promise<string> {
    await cp.kubectlOk(["create", "serviceaccount", name, "-n", namespace]);
    // TokenRequest, as a pod's projected token is made.
    return (await cp.kubectlOk(["create", "token", name, "-n", namespace, "--duration=1h"])).trim();
  }

  /** A program counting execs, exporting `metric`, in `namespace`. */
  function ebpfMap(namespace: string, name: string, metric: string): string {
    return readFileSync(join(repo, "examples/execve-tracepoint.yaml"), "utf8")
      .replace(/name: execve-tracepoint/, `name: ${name}`)
      .replace(/^ {2}name: execve-counter$/m, `  name: ${metric}`)
      .replace(/^metadata:\n/m, `metadata:\n  namespace: ${namespace}\n`);
  }

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), "eop-reads-"));
    await cp.kubectlOk(["apply", "-f", join(repo, "deploy/crds")]);
    await cp.kubectlOk(["wait", "--for", "condition=established", "crd/ebpfmaps.observability.cloud", "--timeout=60s"]);
    for (const ns of [SYSTEM, A, B]) await cp.kubectlOk(["create", "namespace", ns]);
    for (const ns of [A, B]) await cp.kubectlOk(["label", "namespace", ns, "observability.cloud/allow-kernel-wide-programs=true"]);
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: NODE, labels: { "kubernetes.io/hostname": NODE } } }),
    });
    await applyInstallRoles();
    tokens.alice = await serviceAccount(A, "alice");
    tokens.bob = await serviceAccount(B, "bob");
    tokens.nobody = await serviceAccount(A, "nobody");
    tokens.prom = await serviceAccount(SYSTEM, "prometheus");
    await cp.kubectlOk(["create", "rolebinding", "alice-view", `--clusterrole=${role("ebpf-operator-view")}`, `--serviceaccount=${A}:alice`, "-n", A]);
    await cp.kubectlOk(["create", "rolebinding", "bob-edit", `--clusterrole=${role("ebpf-operator-edit")}`, `--serviceaccount=${B}:bob`, "-n", B]);
    await cp.kubectlOk([
      "create",
      "clusterrolebinding",
      role("prometheus"),
      `--clusterrole=${role("ebpf-operator-metrics-reader")}`,
      `--serviceaccount=${SYSTEM}:prometheus`,
    ]);

    operator = await startLoggedProcess(
      [
        cli,
        "run",
        "--kubeconfig",
        cp.kubeconfig,
        "--namespace",
        SYSTEM,
        "--listen",
        "127.0.0.1:0",
        "--cache-dir",
        join(workDir, "operator-cache"),
        "--manage-serving-certs",
      ],
      "operator listening",
    );
    // The kubelet's part: the agent's Secret volume, written once the operator made the Secret.
    const tls = await eventually(
      "the agent's serving Secret",
      async () => (await cp.kubectl(["get", "secret", "ebpf-operator-agent-tls", "-n", SYSTEM])).code === 0,
    );
    expect(tls).toBe(true);
    const agentSecret = await secret("ebpf-operator-agent-tls");
    writeFileSync(join(workDir, "tls.crt"), decode(agentSecret, "tls.crt"));
    writeFileSync(join(workDir, "tls.key"), decode(agentSecret, "tls.key"));
    ca = JSON.parse(await cp.kubectlOk(["get", "configmap", "ebpf-operator-serving-ca", "-n", SYSTEM, "-o", "json"])).data["ca.crt"] as string;
    expect(ca).toBe(decode(agentSecret, "ca.crt"));
    agent = await startClusterAgent({
      cli,
      node: NODE,
      kubeconfig: cp.kubeconfig,
      namespace: SYSTEM,
      pinRoot,
      workDir,
      tls: { certFile: join(workDir, "tls.crt"), keyFile: join(workDir, "tls.key") },
    });
    expect(agent.url).toMatch(/^https:/);
    await cp.kubectlOk(["apply", "-f", "-"], { input: ebpfMap(A, "execs", "execve_counter") });
    await cp.kubectlOk(["apply", "-f", "-"], { input: ebpfMap(B, "execs", "execve_counter") });
    await cp.kubectlOk(["apply", "-f", "-"], { input: ebpfMap(B, "secret", "bob_secret_execs") });
    await eventually(
      "all three running on the node",
      async () => {
        const all = (await get("/metrics", tokens.prom)).body;
        return ["execve_counter_total", "bob_secret_execs_total"].every((m) => all.includes(m)) && all.includes(`namespace="${A}"`);
      },
      120_000,
    );
    runTimes("/bin/true", 5);
  });

  afterAll(async () => {
    for (const p of prometheuses) await p.stop();
    await agent?.stop("SIGKILL");
    await operator?.stop();
    for (const ns of [A, B, SYSTEM]) await deleteNamespace(cp, ns).catch(() => undefined);
    await cp.kubectl(["delete", "clusterrolebinding", role("prometheus"), "--ignore-not-found"]);
    await cp.kubectl([
      "delete",
      "clusterrole",
      role("ebpf-operator-view"),
      role("ebpf-operator-edit"),
      role("ebpf-operator-metrics-reader"),
      "--ignore-not-found",
    ]);
    await cp.kubectl(["delete", "node", NODE, "--ignore-not-found"]);
    rmSync(pinRoot, { recursive: true, force: true });
    rmSync(workDir, { recursive: true, force: true });
  });

  it("keeps /healthz and /readyz open and answers 401 to anonymous and malformed requests everywhere else", async () => {
    expect((await get("/healthz")).status).toBe(200);
    expect((await get("/readyz")).status).toBe(200);
    for (const path of ["/metrics", "/status", `/namespaces/${A}/metrics`, `/namespaces/${A}/status`, "/nonexistent"]) {
      const response = await get(path);
      expect(response.status, path).toBe(401);
      expect(response.body).not.toContain("execve");
    }
    expect((await get("/metrics", "not-a-token")).status).toBe(401);
  });

  it("gives alice exactly her namespace's series and status, and 403 on bob's and on the whole node", async () => {
    const view = await get(`/namespaces/${A}/metrics`, tokens.alice);
    expect(view.status).toBe(200);
    expect(sampleValue(view.body, "execve_counter_total", { namespace: A, ebpfmap: "execs" })).toBeGreaterThanOrEqual(5);
    const namespaces = new Set([...view.body.matchAll(/namespace="([^"]*)"/g)].map((m) => m[1]));
    expect([...namespaces]).toEqual([A]);
    expect(view.body).not.toContain("bob_secret_execs");
    expect(view.body).not.toMatch(/^ebpf_operator_agent_/m);
    expect(view.body).not.toMatch(/^# HELP ebpf_operator_agent_/m);
    // Her own programs' costs and map fill are hers to see.
    expect(sampleValue(view.body, "ebpf_operator_map_max_entries", { namespace: A, ebpfmap: "execs" })).toBe(1);
    // Gzipped when asked (as Prometheus asks), the tenant's view as the cluster's: the same filtered series.
    const zipped = await secureGet(`${agent!.url}/namespaces/${A}/metrics`, { ca, servername: SERVER_NAME, token: tokens.alice!, gzip: true });
    expect(zipped.status).toBe(200);
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    expect([...new Set([...zipped.body.matchAll(/namespace="([^"]*)"/g)].map((m) => m[1]))]).toEqual([A]);
    expect(sampleValue(zipped.body, "execve_counter_total", { namespace: A, ebpfmap: "execs" })).toBeGreaterThanOrEqual(5);
    expect(zipped.body).not.toContain("bob_secret");
    expect(zipped.body).not.toMatch(/^# HELP ebpf_operator_agent_/m);
    const status = JSON.parse((await get(`/namespaces/${A}/status`, tokens.alice)).body) as { resources: { namespace: string; name: string; phase: string }[] };
    expect(status.resources.map((r) => `${r.namespace}/${r.name}:${r.phase}`)).toEqual([`${A}/execs:Running`]);
    for (const path of [`/namespaces/${B}/metrics`, `/namespaces/${B}/status`, "/metrics", "/status"]) {
      const refused = await get(path, tokens.alice);
      expect(refused.status, path).toBe(403);
      expect(refused.body).toMatch(/Forbidden: user "system:serviceaccount:.*:alice" may not get ebpfmaps\/metrics/);
      expect(refused.body).not.toContain("bob_secret");
    }
  });

  it("gives bob the reverse", async () => {
    const view = await get(`/namespaces/${B}/metrics`, tokens.bob);
    expect(view.status).toBe(200);
    expect(sampleValue(view.body, "bob_secret_execs_total", { namespace: B, ebpfmap: "secret" })).toBeGreaterThanOrEqual(5);
    expect(sampleValue(view.body, "execve_counter_total", { namespace: B, ebpfmap: "execs" })).toBeGreaterThanOrEqual(5);
    expect([...new Set([...view.body.matchAll(/namespace="([^"]*)"/g)].map((m) => m[1]))]).toEqual([B]);
    const status = JSON.parse((await get(`/namespaces/${B}/status`, tokens.bob)).body) as { resources: { namespace: string; name: string }[] };
    expect(status.resources.map((r) => `${r.namespace}/${r.name}`).sort()).toEqual([`${B}/execs`, `${B}/secret`]);
    for (const path of [`/namespaces/${A}/metrics`, `/namespaces/${A}/status`, "/metrics", "/status"])
      expect((await get(path, tokens.bob)).status, path).toBe(403);
  });

  it("answers 403 to a valid token without the right, everywhere", async () => {
    for (const path of [`/namespaces/${A}/metrics`, `/namespaces/${A}/status`, `/namespaces/${B}/metrics`, "/metrics", "/status"]) {
      expect((await get(path, tokens.nobody)).status, path).toBe(403);
    }
  });

  it("answers 401 to an expired token and to a forged one, while the same claims signed right and unexpired pass", async () => {
    // Re-sign alice's real token with the API server's service-account key, changing only the
    // times: accepted when current, refused when expired. Signed with another key: refused.
    const [header, payload] = tokens.alice!.split(".") as [string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    const jwt = (times: { iat: number; exp: number }, key: ReturnType<typeof createPrivateKey>) => {
      const body = Buffer.from(JSON.stringify({ ...claims, ...times, nbf: times.iat })).toString("base64url");
      const signature = sign("sha256", Buffer.from(`${header}.${body}`), { key, dsaEncoding: "ieee-p1363" }).toString("base64url");
      return `${header}.${body}.${signature}`;
    };
    const saKey = createPrivateKey(readFileSync(join(cp.dir, "pki", "sa.key")));
    const now = Math.floor(Date.now() / 1000);
    expect((await get(`/namespaces/${A}/metrics`, jwt({ iat: now - 30, exp: now + 600 }, saKey))).status).toBe(200);
    expect((await get(`/namespaces/${A}/metrics`, jwt({ iat: now - 7200, exp: now - 3600 }, saKey))).status).toBe(401);
    const otherKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    expect((await get(`/namespaces/${A}/metrics`, jwt({ iat: now - 30, exp: now + 600 }, otherKey))).status).toBe(401);
  });

  it("gives the cluster reader every namespace and the agent's own families", async () => {
    const all = await get("/metrics", tokens.prom);
    expect(all.status).toBe(200);
    expect(sampleValue(all.body, "execve_counter_total", { namespace: A })).toBeGreaterThanOrEqual(5);
    expect(sampleValue(all.body, "execve_counter_total", { namespace: B })).toBeGreaterThanOrEqual(5);
    expect(sampleValue(all.body, "bob_secret_execs_total", { namespace: B })).toBeGreaterThanOrEqual(5);
    expect(all.body).toMatch(/^ebpf_operator_agent_resources\{phase="Running"\} 3$/m);
    const status = JSON.parse((await get("/status", tokens.prom)).body) as { resources: unknown[] };
    expect(status.resources).toHaveLength(3);
    expect((await get(`/namespaces/${A}/metrics`, tokens.prom)).status).toBe(200);
  });

  it("reviews a scraper once per cache period, not once per scrape", async () => {
    await cp.kubectlOk(["create", "serviceaccount", "carol", "-n", A]);
    await cp.kubectlOk(["create", "rolebinding", "carol-view", `--clusterrole=${role("ebpf-operator-view")}`, `--serviceaccount=${A}:carol`, "-n", A]);
    const carol = (await cp.kubectlOk(["create", "token", "carol", "-n", A, "--duration=1h"])).trim();
    await get("/metrics", tokens.prom); // prom's own decisions cached before counting
    const before = (await get("/metrics", tokens.prom)).body;
    for (let i = 0; i < 20; i++) expect((await get(`/namespaces/${A}/metrics`, carol)).status).toBe(200);
    const after = (await get("/metrics", tokens.prom)).body;
    // carol's 20 scrapes: one TokenReview and one SubjectAccessReview.
    expect(counter(after, "TokenReview") - counter(before, "TokenReview")).toBe(1);
    expect(counter(after, "SubjectAccessReview") - counter(before, "SubjectAccessReview")).toBe(1);
    expect(sampleValue(after, "ebpf_operator_agent_http_authorizations_total", { view: "namespace", result: "forbidden" })).toBeGreaterThan(0);
    expect(sampleValue(after, "ebpf_operator_agent_http_authentications_total", { result: "unauthenticated" })).toBeGreaterThan(0);
  });

  it("is scraped by a real Prometheus with authorization and tls_config, which stores every namespace's series", async () => {
    const url = new URL(agent!.url);
    const prometheus = await startPrometheus({
      files: { token: tokens.prom!, "ca.crt": ca },
      // What deploy/monitoring/servicemonitor.yaml becomes: the target carries the agent pod's
      // namespace (as the Prometheus Operator adds it), honor_labels stays false and only the
      // sample's namespace is taken back from exported_namespace.
      scrapeConfigs: `  - job_name: ebpf-agent
    scheme: https
    honor_labels: false
    authorization:
      credentials_file: {dir}/token
    tls_config:
      ca_file: {dir}/ca.crt
      server_name: ${SERVER_NAME}
    static_configs:
      - targets: ["${url.host}"]
        labels: { namespace: ${SYSTEM}, node: ${NODE} }
    metric_relabel_configs:
      - source_labels: [exported_namespace]
        regex: "(.+)"
        target_label: namespace
        replacement: "$1"
      - regex: exported_namespace
        action: labeldrop
`,
    });
    prometheuses.push(prometheus);
    const result = await prometheus.waitFor("count by (namespace) (execve_counter_total)", (r) => r.length === 2);
    expect(result.map((s) => s.metric.namespace).sort()).toEqual([A, B].sort());
    expect((await prometheus.query('up{job="ebpf-agent"}'))[0]!.value![1]).toBe("1");
    // The agent's own families keep the target's namespace; nothing is left as exported_*.
    expect((await prometheus.query(`ebpf_operator_agent_resources{namespace="${SYSTEM}",node="${NODE}"}`)).length).toBeGreaterThan(0);
    expect(await prometheus.query('{exported_namespace!=""}')).toEqual([]);
    // The dashboards' queries, unchanged: per tenant namespace and node.
    const rate = await prometheus.waitFor(`sum by (namespace, ebpfmap, node) (execve_counter_total{namespace="${A}"})`, (r) => r.length === 1);
    expect(rate[0]!.metric).toEqual({ namespace: A, ebpfmap: "execs", node: NODE });
  });

  it("is scraped by a tenant's Prometheus with the tenant's token on the tenant's view, which stores only that namespace", async () => {
    const url = new URL(agent!.url);
    const prometheus = await startPrometheus({
      files: { token: tokens.alice!, "ca.crt": ca },
      scrapeConfigs: `  - job_name: ebpf-tenant
    scheme: https
    metrics_path: /namespaces/${A}/metrics
    honor_labels: true
    authorization:
      credentials_file: {dir}/token
    tls_config:
      ca_file: {dir}/ca.crt
      server_name: ${SERVER_NAME}
    static_configs:
      - targets: ["${url.host}"]
  - job_name: ebpf-tenant-trespassing
    scheme: https
    metrics_path: /namespaces/${B}/metrics
    authorization:
      credentials_file: {dir}/token
    tls_config:
      ca_file: {dir}/ca.crt
      server_name: ${SERVER_NAME}
    static_configs:
      - targets: ["${url.host}"]
`,
    });
    prometheuses.push(prometheus);
    await prometheus.waitFor('up{job="ebpf-tenant"} == 1', (r) => r.length === 1);
    await prometheus.waitFor("execve_counter_total", (r) => r.length === 1);
    expect(await prometheus.labelValues("namespace", '{job=~"ebpf-tenant.*",__name__!="up"}')).toEqual([A]);
    expect(await prometheus.query('{__name__=~"ebpf_operator_agent_.*|bob_secret_execs_total"}')).toEqual([]);
    // The other namespace's view is refused: the target is down, nothing stored.
    const trespass = await prometheus.waitFor('up{job="ebpf-tenant-trespassing"}', (r) => r.length === 1);
    expect(trespass[0]!.value![1]).toBe("0");
  });

  it("serves a rotated certificate without a restart, and only certificates scrapers can verify", async () => {
    const before = await get("/healthz");
    expect(before.status).toBe(200);
    const caSecret = await secret("ebpf-operator-ca");
    const signer = { cert: decode(caSecret, "ca.crt"), key: decode(caSecret, "ca.key") };
    const rotated = await issueServingCertificate(signer, [SERVER_NAME], new Date(), 3600_000);
    writeFileSync(join(workDir, "tls.key"), rotated.key);
    writeFileSync(join(workDir, "tls.crt"), rotated.cert);
    await eventually(
      "the rotated certificate served",
      async () => {
        const { X509Certificate } = await import("node:crypto");
        const { connect } = await import("node:tls");
        const url = new URL(agent!.url);
        const fingerprint = await new Promise<string>((resolve, reject) => {
          const socket = connect({ host: url.hostname, port: Number(url.port), ca, servername: SERVER_NAME }, () => {
            resolve(socket.getPeerX509Certificate()!.fingerprint256);
            socket.end();
          });
          socket.on("error", reject);
        });
        return fingerprint === new X509Certificate(rotated.cert).fingerprint256;
      },
      30_000,
    );
    expect((await get(`/namespaces/${A}/metrics`, tokens.alice)).status).toBe(200);
    // A certificate from a CA scrapers do not trust fails their verification.
    const stranger = await createCa("stranger", new Date(), 3600_000);
    await expect(secureGet(`${agent!.url}/healthz`, { ca: stranger.cert, servername: SERVER_NAME })).rejects.toThrow(/certificate/i);
  });
});
