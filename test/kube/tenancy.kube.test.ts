/**
 * Tenancy on a real kube-apiserver with the real kubectl: two tenants, alice and bob (client
 * certificates, no groups), each bound to ebpf-operator-edit in their own namespace only, on top
 * of the real install (deploy/operator.yaml). Each may manage EbpfMaps and read the per-node
 * reports in their own namespace, and nothing else: not the other's EbpfMaps, not the status
 * (the operator's), not the node reports (the agents'), not the compiled objects in the
 * operator's namespace, and not the namespace label that allows kernel-wide program types.
 */
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { attachControlPlane, deleteNamespace, repoRoot, type KubectlResult } from "../helpers/kube/control-plane.js";
import { tracepointManifest } from "../helpers/manifests.js";

const cp = attachControlPlane();
const SYSTEM = "ebpf-operator-system";
const ALICE_NS = "eop-tenant-alice";
const BOB_NS = "eop-tenant-bob";
const KERNEL_WIDE = "observability.cloud/allow-kernel-wide-programs";
const OBJECT = "ebpf-object-0123456789abcdef0123456789abcdef01234567";

let alice: string;
let bob: string;
let carol: string;

const as = (kubeconfig: string, args: string[], input?: string): Promise<KubectlResult> =>
  cp.kubectl(args, input === undefined ? { kubeconfig } : { kubeconfig, input });

/** Runs kubectl as a user, expects success, returns stdout. */
async function allowed(kubeconfig: string, args: string[], input?: string): Promise<string> {
  const result = await as(kubeconfig, args, input);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout;
}

/** Runs kubectl as a user, expects a Forbidden error, returns stderr. */
async function forbidden(kubeconfig: string, args: string[], input?: string): Promise<string> {
  const result = await as(kubeconfig, args, input);
  expect(result.code, `kubectl ${args.join(" ")} should be refused, got: ${result.stdout}`).not.toBe(0);
  expect(result.stderr).toMatch(/\(Forbidden\)|is forbidden/);
  return result.stderr;
}

/**
 * A merge PATCH straight to the API server with the user's client certificate. kubectl patch
 * reads the object first, so a user who may not read it is refused the get before the patch is
 * ever sent; this asks about the patch itself. Returns the status code and the Status message.
 */
function rawPatch(kubeconfig: string, path: string, body: unknown): Promise<{ status: number; message: string }> {
  const config = parseYaml(readFileSync(kubeconfig, "utf8")) as {
    users: { user: { "client-certificate-data": string; "client-key-data": string } }[];
  };
  const user = config.users[0]!.user;
  const decode = (data: string) => Buffer.from(data, "base64");
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, cp.server),
      {
        method: "PATCH",
        ca: readFileSync(cp.caFile),
        cert: decode(user["client-certificate-data"]),
        key: decode(user["client-key-data"]),
        headers: { "content-type": "application/merge-patch+json" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let message = text;
          try {
            message = (JSON.parse(text) as { message?: string }).message ?? text;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, message });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

const ebpfMapPath = (namespace: string, name: string, subresource = "") =>
  `/apis/observability.cloud/v1/namespaces/${namespace}/ebpfmaps/${name}${subresource ? `/${subresource}` : ""}`;

const nodeStatus = (namespace: string, ebpfMap: string) =>
  JSON.stringify({
    apiVersion: "observability.cloud/v1",
    kind: "EbpfMapNodeStatus",
    metadata: { name: `${ebpfMap}.node-1`, namespace, labels: { "observability.cloud/ebpfmap": ebpfMap, "observability.cloud/node": "node-1" } },
    spec: { ebpfMap, nodeName: "node-1" },
    status: { phase: "Running", observedGeneration: 1 },
  });

/** The one-file install; its CRDs stay installed afterwards (other files use them). */
const OPERATOR_YAML = join(repoRoot, "deploy", "operator.yaml");

describe("tenants on a real install", () => {
  beforeAll(async () => {
    await cp.kubectlOk(["apply", "--server-side", "--field-manager=eop-tenancy-test", "-f", OPERATOR_YAML], { timeoutMs: 120_000 });
    await cp.kubectlOk([
      "wait",
      "--for=condition=Established",
      "crd/ebpfmaps.observability.cloud",
      "crd/ebpfmapnodestatuses.observability.cloud",
      "--timeout=60s",
    ]);
    for (const ns of [ALICE_NS, BOB_NS]) await cp.kubectlOk(["create", "namespace", ns]);
    alice = await cp.userKubeconfig("alice", []);
    bob = await cp.userKubeconfig("bob", []);
    carol = await cp.userKubeconfig("carol", []);
    await cp.kubectlOk(["create", "rolebinding", "alice-ebpf", "-n", ALICE_NS, "--clusterrole=ebpf-operator-edit", "--user=alice"]);
    await cp.kubectlOk(["create", "rolebinding", "bob-ebpf", "-n", BOB_NS, "--clusterrole=ebpf-operator-edit", "--user=bob"]);
    await cp.kubectlOk(["create", "rolebinding", "carol-ebpf-view", "-n", ALICE_NS, "--clusterrole=ebpf-operator-view", "--user=carol"]);
    // What the operator and an agent would have written (as admin here: no operator runs).
    await cp.kubectlOk(["create", "configmap", OBJECT, "-n", SYSTEM, "--from-literal=object.o=elf"]);
    await allowed(bob, ["apply", "-n", BOB_NS, "-f", "-"], tracepointManifest({ name: "bobs-counter" }));
    await cp.kubectlOk(["apply", "-f", "-"], { input: nodeStatus(BOB_NS, "bobs-counter") });
    await cp.kubectlOk(["apply", "-f", "-"], { input: nodeStatus(ALICE_NS, "alices-counter") });
  });

  afterAll(async () => {
    for (const ns of [ALICE_NS, BOB_NS, SYSTEM]) await deleteNamespace(cp, ns).catch(() => undefined);
    const docs = parseAllDocuments(readFileSync(OPERATOR_YAML, "utf8")).map(
      (d) => d.toJS() as { kind: string; apiVersion: string; metadata: { name: string; namespace?: string } },
    );
    const clusterScoped = docs
      .filter((o) => !o.metadata.namespace && o.kind !== "CustomResourceDefinition" && o.kind !== "Namespace")
      .map((o) => `${o.kind.toLowerCase()}.${o.apiVersion.split("/")[0]}/${o.metadata.name}`);
    await cp.kubectl(["delete", ...clusterScoped, "--ignore-not-found"]);
  });

  it("alice manages EbpfMaps in her namespace: create, get, list, patch, delete", async () => {
    expect(await allowed(alice, ["apply", "-n", ALICE_NS, "-f", "-"], tracepointManifest({ name: "alices-counter" }))).toContain(
      "ebpfmap.observability.cloud/alices-counter created",
    );
    expect(await allowed(alice, ["get", "ebpfmap", "alices-counter", "-n", ALICE_NS, "-o", "jsonpath={.spec.type}"])).toBe("tracepoint");
    expect(await allowed(alice, ["get", "ebpfmaps", "-n", ALICE_NS, "-o", "name"])).toBe("ebpfmap.observability.cloud/alices-counter\n");
    await allowed(alice, ["patch", "ebpfmap", "alices-counter", "-n", ALICE_NS, "--type=merge", "-p", '{"spec":{"help":"edited by alice"}}']);
    expect(await allowed(alice, ["get", "ebpfmap", "alices-counter", "-n", ALICE_NS, "-o", "jsonpath={.spec.help}"])).toBe("edited by alice");
    await allowed(alice, ["apply", "-n", ALICE_NS, "-f", "-"], tracepointManifest({ name: "scratch" }));
    expect(await allowed(alice, ["delete", "ebpfmap", "scratch", "-n", ALICE_NS])).toContain("deleted");
  });

  it("alice reads the node reports in her namespace", async () => {
    expect(await allowed(alice, ["get", "ebpfmapnodestatuses", "-n", ALICE_NS, "-o", "name"])).toContain("alices-counter.node-1");
    expect(await allowed(alice, ["get", "ebpfmapnodestatus", "alices-counter.node-1", "-n", ALICE_NS, "-o", "jsonpath={.status.phase}"])).toBe("Running");
  });

  it("alice can neither read nor change bob's EbpfMaps", async () => {
    const resource = 'User "alice" cannot %s resource "ebpfmaps" in API group "observability.cloud" in the namespace "eop-tenant-bob"';
    expect(await forbidden(alice, ["get", "ebpfmap", "bobs-counter", "-n", BOB_NS])).toContain(resource.replace("%s", "get"));
    expect(await forbidden(alice, ["get", "ebpfmaps", "-n", BOB_NS])).toContain(resource.replace("%s", "list"));
    expect(await forbidden(alice, ["get", "ebpfmaps", "-n", BOB_NS, "--watch", "--request-timeout=5s"])).toContain(resource.replace("%s", "list"));
    // kubectl patch is refused at its first step (reading the object) ...
    expect(await forbidden(alice, ["patch", "ebpfmap", "bobs-counter", "-n", BOB_NS, "--type=merge", "-p", '{"spec":{"help":"alice was here"}}'])).toContain(
      resource.replace("%s", "get"),
    );
    // ... and the PATCH itself, sent directly, too.
    const patch = await rawPatch(alice, ebpfMapPath(BOB_NS, "bobs-counter"), { spec: { help: "alice was here" } });
    expect(patch.status).toBe(403);
    expect(patch.message).toContain(resource.replace("%s", "patch"));
    expect(await forbidden(alice, ["delete", "ebpfmap", "bobs-counter", "-n", BOB_NS])).toContain(resource.replace("%s", "delete"));
    expect(await forbidden(alice, ["apply", "-n", BOB_NS, "-f", "-"], tracepointManifest({ name: "planted" }))).toMatch(
      /User "alice" cannot (get|patch|create) resource "ebpfmaps"/,
    );
    // Nor across all namespaces.
    expect(await forbidden(alice, ["get", "ebpfmaps", "--all-namespaces"])).toContain(
      'User "alice" cannot list resource "ebpfmaps" in API group "observability.cloud" at the cluster scope',
    );
    // Nor bob's status, through the subresource.
    expect(await forbidden(alice, ["get", "ebpfmap", "bobs-counter", "-n", BOB_NS, "--subresource=status"])).toContain('cannot get resource "ebpfmaps/status"');
    // Bob's resource is untouched.
    expect(await cp.kubectlOk(["get", "ebpfmap", "bobs-counter", "-n", BOB_NS, "-o", "jsonpath={.spec.help}"])).toBe("test counter");
    // And symmetrically for bob.
    expect(await forbidden(bob, ["get", "ebpfmap", "alices-counter", "-n", ALICE_NS])).toContain('User "bob" cannot get resource "ebpfmaps"');
  });

  it("alice cannot read bob's node reports", async () => {
    expect(await forbidden(alice, ["get", "ebpfmapnodestatuses", "-n", BOB_NS])).toContain(
      'User "alice" cannot list resource "ebpfmapnodestatuses" in API group "observability.cloud" in the namespace "eop-tenant-bob"',
    );
    expect(await forbidden(alice, ["get", "ebpfmapnodestatus", "bobs-counter.node-1", "-n", BOB_NS])).toContain('cannot get resource "ebpfmapnodestatuses"');
  });

  it("alice cannot write EbpfMap status, even in her own namespace: status is the operator's", async () => {
    await cp.kubectlOk(["patch", "ebpfmap", "alices-counter", "-n", ALICE_NS, "--subresource=status", "--type=merge", "-p", '{"status":{"ready":"0/1"}}']);
    // kubectl patch --subresource=status is refused reading the status ...
    const stderr = await forbidden(alice, [
      "patch",
      "ebpfmap",
      "alices-counter",
      "-n",
      ALICE_NS,
      "--subresource=status",
      "--type=merge",
      "-p",
      '{"status":{"ready":"9/9"}}',
    ]);
    expect(stderr).toContain('User "alice" cannot get resource "ebpfmaps/status" in API group "observability.cloud" in the namespace "eop-tenant-alice"');
    // ... and the PATCH of /status itself, sent directly: a forged object reference is refused.
    const object = '{"status":{"object":{"hash":"forged","sha256":"forged","configMap":"ebpf-object-forged","namespace":"eop-tenant-alice","generation":1}}}';
    const patch = await rawPatch(alice, ebpfMapPath(ALICE_NS, "alices-counter", "status"), JSON.parse(object));
    expect(patch.status).toBe(403);
    expect(patch.message).toContain(
      'User "alice" cannot patch resource "ebpfmaps/status" in API group "observability.cloud" in the namespace "eop-tenant-alice"',
    );
    expect(
      await forbidden(
        alice,
        ["replace", "--subresource=status", "-n", ALICE_NS, "-f", "-"],
        JSON.stringify({ apiVersion: "observability.cloud/v1", kind: "EbpfMap", metadata: { name: "alices-counter" }, status: {} }),
      ),
    ).toMatch(/cannot (update|get) resource "ebpfmaps\/status"/);
    // Through the main resource the status is ignored (status subresource): the write succeeds
    // but changes nothing, so no tenant can point an agent at an object of their choosing.
    await allowed(alice, ["patch", "ebpfmap", "alices-counter", "-n", ALICE_NS, "--type=merge", "-p", object]);
    const status = JSON.parse(await cp.kubectlOk(["get", "ebpfmap", "alices-counter", "-n", ALICE_NS, "-o", "jsonpath={.status}"])) as {
      ready?: string;
      object?: unknown;
    };
    expect(status).toEqual({ ready: "0/1" });
  });

  it("alice cannot create, patch or delete node reports: they are the agents'", async () => {
    const message = 'User "alice" cannot %s resource "ebpfmapnodestatuses" in API group "observability.cloud" in the namespace "eop-tenant-alice"';
    expect(await forbidden(alice, ["create", "-f", "-"], nodeStatus(ALICE_NS, "forged"))).toContain(message.replace("%s", "create"));
    expect(
      await forbidden(alice, ["patch", "ebpfmapnodestatus", "alices-counter.node-1", "-n", ALICE_NS, "--type=merge", "-p", '{"status":{"phase":"Failed"}}']),
    ).toContain(message.replace("%s", "patch"));
    expect(await forbidden(alice, ["apply", "--server-side", "-f", "-"], nodeStatus(ALICE_NS, "alices-counter"))).toContain(message.replace("%s", "patch"));
    expect(await forbidden(alice, ["delete", "ebpfmapnodestatus", "alices-counter.node-1", "-n", ALICE_NS])).toContain(message.replace("%s", "delete"));
    expect(await cp.kubectlOk(["get", "ebpfmapnodestatus", "alices-counter.node-1", "-n", ALICE_NS, "-o", "jsonpath={.status.phase}"])).toBe("Running");
  });

  it("alice cannot read or write the compiled objects in the operator's namespace", async () => {
    const message = 'User "alice" cannot %s resource "configmaps" in API group "" in the namespace "ebpf-operator-system"';
    expect(await forbidden(alice, ["get", "configmap", OBJECT, "-n", SYSTEM])).toContain(message.replace("%s", "get"));
    expect(await forbidden(alice, ["get", "configmaps", "-n", SYSTEM])).toContain(message.replace("%s", "list"));
    expect(await forbidden(alice, ["create", "configmap", "ebpf-object-forged", "-n", SYSTEM, "--from-literal=object.o=x"])).toContain(
      message.replace("%s", "create"),
    );
    expect(await forbidden(alice, ["delete", "configmap", OBJECT, "-n", SYSTEM])).toContain(message.replace("%s", "delete"));
    expect(await forbidden(alice, ["get", "ebpfmaps", "-n", SYSTEM])).toContain('cannot list resource "ebpfmaps"');
  });

  it("alice cannot set the kernel-wide label on her namespace (no rights on Namespaces)", async () => {
    // kubectl label reads the namespace first and is refused there ...
    expect(await forbidden(alice, ["label", "namespace", ALICE_NS, `${KERNEL_WIDE}=true`])).toContain(
      'User "alice" cannot get resource "namespaces" in API group "" in the namespace "eop-tenant-alice"',
    );
    // ... and the PATCH itself, sent directly.
    const patch = await rawPatch(alice, `/api/v1/namespaces/${ALICE_NS}`, { metadata: { labels: { [KERNEL_WIDE]: "true" } } });
    expect(patch.status).toBe(403);
    expect(patch.message).toContain('User "alice" cannot patch resource "namespaces" in API group "" in the namespace "eop-tenant-alice"');
    expect(await forbidden(alice, ["create", "namespace", "eop-tenant-alice-2"])).toContain('cannot create resource "namespaces"');
    expect(await cp.kubectlOk(["get", "namespace", ALICE_NS, "-o", `jsonpath={.metadata.labels.observability\\.cloud/allow-kernel-wide-programs}`])).toBe("");
    // Nor can she give herself more rights: RBAC objects are not in ebpf-operator-edit.
    expect(await forbidden(alice, ["create", "rolebinding", "more", "-n", ALICE_NS, "--clusterrole=admin", "--user=alice"])).toContain(
      'cannot create resource "rolebindings"',
    );
  });

  it("ebpf-operator-view reads but does not write", async () => {
    expect(await allowed(carol, ["get", "ebpfmaps,ebpfmapnodestatuses", "-n", ALICE_NS, "-o", "name"])).toContain("ebpfmap.observability.cloud/alices-counter");
    expect(await forbidden(carol, ["patch", "ebpfmap", "alices-counter", "-n", ALICE_NS, "--type=merge", "-p", '{"spec":{"help":"x"}}'])).toContain(
      'User "carol" cannot patch resource "ebpfmaps"',
    );
    expect(await forbidden(carol, ["delete", "ebpfmap", "alices-counter", "-n", ALICE_NS])).toContain('cannot delete resource "ebpfmaps"');
    expect(await forbidden(carol, ["get", "ebpfmaps", "-n", BOB_NS])).toContain('cannot list resource "ebpfmaps"');
  });

  it("the tenant roles carry the labels that aggregate them into admin/edit/view", async () => {
    const labels = (role: string) =>
      cp.kubectlOk(["get", "clusterrole", role, "-o", "jsonpath={.metadata.labels}"]).then((s) => JSON.parse(s) as Record<string, string>);
    expect(await labels("ebpf-operator-edit")).toMatchObject({
      "rbac.authorization.k8s.io/aggregate-to-edit": "true",
      "rbac.authorization.k8s.io/aggregate-to-admin": "true",
    });
    expect(await labels("ebpf-operator-view")).toMatchObject({ "rbac.authorization.k8s.io/aggregate-to-view": "true" });
    // (The aggregation itself is kube-controller-manager's work, which this control plane does not run.)
  });
});
