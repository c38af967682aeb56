/**
 * The control plane itself, through the real kubectl as a user would drive it: the version we
 * built, CRDs, and RBAC for a non-admin user. Runs in the `kube` vitest project (one etcd +
 * kube-apiserver per run, from test/helpers/kube/global-setup.ts).
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { attachControlPlane, deleteNamespace } from "../helpers/kube/control-plane.js";

const cp = attachControlPlane();
const suffix = () => randomBytes(3).toString("hex");

/** Cleanups registered by a test, run after it whether it passed or not (last first). */
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

describe("kube-apiserver built from k8s.io/kubernetes", () => {
  it("reports the stamped version, not v0.0.0-master, to kubectl and on /version", async () => {
    const out = JSON.parse(await cp.kubectlOk(["version", "-o", "json"])) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string; major: string; minor: string };
    };
    expect(out.serverVersion.gitVersion).toMatch(/^v1\.37\.\d+$/);
    expect(out.serverVersion.major).toBe("1");
    expect(out.serverVersion.minor).toBe("37");
    expect(out.clientVersion.gitVersion).toBe(out.serverVersion.gitVersion);

    const raw = await cp.request("GET", "/version");
    expect(raw.status).toBe(200);
    expect((JSON.parse(raw.body) as { gitVersion: string }).gitVersion).toBe(out.serverVersion.gitVersion);
  });

  it("serves a CRD applied with kubectl and stores its custom objects", async () => {
    const crd = "widgets.example.test";
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${crd}
spec:
  group: example.test
  scope: Namespaced
  names: { kind: Widget, listKind: WidgetList, plural: widgets, singular: widget }
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: { type: integer, minimum: 1 }
`,
    });
    cleanups.push(() => cp.kubectlOk(["delete", "crd", crd, "--wait=true"]));
    await cp.kubectlOk(["wait", "--for=condition=Established", `crd/${crd}`, "--timeout=60s"]);

    const name = `w-${suffix()}`;
    await cp.kubectlOk(["apply", "-n", "default", "-f", "-"], {
      input: `apiVersion: example.test/v1\nkind: Widget\nmetadata: { name: ${name} }\nspec: { size: 3 }\n`,
    });
    cleanups.push(() => cp.kubectl(["delete", "widget", name, "-n", "default", "--ignore-not-found"]));
    const widget = JSON.parse(await cp.kubectlOk(["get", "widget", name, "-n", "default", "-o", "json"])) as {
      kind: string;
      spec: { size: number };
      metadata: { uid: string };
    };
    expect(widget.kind).toBe("Widget");
    expect(widget.spec.size).toBe(3);
    expect(widget.metadata.uid).not.toBe("");

    // The structural schema is enforced by the API server.
    const bad = await cp.kubectl(["apply", "-n", "default", "-f", "-"], {
      input: `apiVersion: example.test/v1\nkind: Widget\nmetadata: { name: ${name}-bad }\nspec: { size: 0 }\n`,
    });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/spec\.size/);
  });

  it("enforces RBAC for a non-admin user, and a RoleBinding grants one namespace only", async () => {
    const alice = await cp.userKubeconfig("alice", []);
    const [nsA, nsB] = [`rbac-a-${suffix()}`, `rbac-b-${suffix()}`];

    const denied = await cp.kubectl(["get", "namespaces"], { kubeconfig: alice });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/Forbidden|forbidden/);
    expect(denied.stderr).toContain('User "alice" cannot list resource "namespaces"');

    for (const ns of [nsA, nsB]) {
      await cp.kubectlOk(["create", "namespace", ns]);
      cleanups.push(() => deleteNamespace(cp, ns));
      await cp.kubectlOk(["create", "configmap", "c", "-n", ns, "--from-literal=k=v"]);
    }
    const forbiddenBefore = await cp.kubectl(["get", "configmaps", "-n", nsA], { kubeconfig: alice });
    expect(forbiddenBefore.code).not.toBe(0);
    expect(forbiddenBefore.stderr).toMatch(/forbidden/i);

    await cp.kubectlOk(["create", "role", "cm-reader", "-n", nsA, "--verb=get,list,watch", "--resource=configmaps"]);
    await cp.kubectlOk(["create", "rolebinding", "alice-cm-reader", "-n", nsA, "--role=cm-reader", "--user=alice"]);

    const allowed = await cp.kubectl(["get", "configmaps", "-n", nsA, "-o", "name"], { kubeconfig: alice });
    expect(allowed.stderr).toBe("");
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain("configmap/c");
    expect((await cp.kubectl(["auth", "can-i", "list", "configmaps", "-n", nsA], { kubeconfig: alice })).stdout.trim()).toBe("yes");

    // Only in that namespace, only that verb, and still nothing cluster-wide.
    const otherNs = await cp.kubectl(["get", "configmaps", "-n", nsB], { kubeconfig: alice });
    expect(otherNs.code).not.toBe(0);
    expect(otherNs.stderr).toMatch(/forbidden/i);
    const write = await cp.kubectl(["create", "configmap", "x", "-n", nsA, "--from-literal=k=v"], { kubeconfig: alice });
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/forbidden/i);
    expect((await cp.kubectl(["get", "namespaces"], { kubeconfig: alice })).code).not.toBe(0);
  });

  // helm is optional in the build (scripts/build-kube-testenv.sh --no-helm skips it).
  it.skipIf(!existsSync(join(cp.binDir, "helm")))("installs and uninstalls a chart with the real helm", async () => {
    const chart = await mkdtemp(join(tmpdir(), "eop-chart-"));
    cleanups.push(() => rm(chart, { recursive: true, force: true }));
    await mkdir(join(chart, "templates"));
    await writeFile(join(chart, "Chart.yaml"), "apiVersion: v2\nname: demo\nversion: 0.1.0\n");
    await writeFile(join(chart, "values.yaml"), "greeting: hello\n");
    await writeFile(
      join(chart, "templates", "configmap.yaml"),
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
    );
    const release = `demo-${suffix()}`;
    const ok = async (args: string[]) => {
      const r = await cp.helm(args);
      expect(r.stderr).not.toMatch(/Error/);
      expect(r.code).toBe(0);
      return r.stdout;
    };
    await ok(["install", release, chart, "-n", "default", "--set", "greeting=hi"]);
    cleanups.push(() => cp.helm(["uninstall", release, "-n", "default", "--ignore-not-found"]));
    expect(await cp.kubectlOk(["get", "configmap", `${release}-cm`, "-n", "default", "-o", "jsonpath={.data.greeting}"])).toBe("hi");
    const releases = JSON.parse(await ok(["list", "-n", "default", "-o", "json"])) as { name: string; status: string }[];
    expect(releases.find((r) => r.name === release)?.status).toBe("deployed");
    await ok(["uninstall", release, "-n", "default"]);
    expect(await cp.kubectlOk(["get", "configmap", `${release}-cm`, "-n", "default", "--ignore-not-found", "-o", "name"])).toBe("");
  });

  it("left nothing behind: the tests above cleaned up their CRD, objects and namespaces", async () => {
    expect(await cp.kubectlOk(["get", "crd", "widgets.example.test", "--ignore-not-found", "-o", "name"])).toBe("");
    const namespaces = (await cp.kubectlOk(["get", "namespaces", "-o", "name"])).split("\n").filter(Boolean);
    expect(namespaces.filter((n) => n.startsWith("namespace/rbac-"))).toEqual([]);
    // Only what this file made: other files share the API server.
    const rbac = await cp.kubectlOk(["get", "roles,rolebindings", "-A", "-o", "name"]);
    expect(rbac).not.toMatch(/\/(cm-reader|alice-cm-reader)$/m);
    expect(await cp.kubectlOk(["get", "secrets", "-n", "default", "-l", "owner=helm", "-o", "name"])).not.toMatch(/demo-/);
  });
});
