/**
 * The operator's serving certificates on a real API server: made once, kept while good,
 * re-issued when a third of their life is left, when their names change or when the Secret was
 * tampered with; the CA renewed with an overlap (published first, signing later, the old one kept
 * in the bundle until it expires). The clock is injected; everything else is real.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { createLogger } from "@ebpf-operator/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attachControlPlane, deleteNamespace } from "../helpers/kube/control-plane.js";
import { certificateFacts, keyMatches, signedBy, splitBundle } from "../../packages/operator/src/serving/certificates.js";
import { ServingCertManager, serviceDnsNames } from "../../packages/operator/src/serving/serving-cert-manager.js";

const cp = attachControlPlane();
const NS = `eop-certs-${process.pid}`;
const DAY = 24 * 3600_000;

interface Secret {
  metadata: { resourceVersion: string; annotations?: Record<string, string> };
  type: string;
  data: Record<string, string>;
}

describe("serving certificates made and rotated by the operator", () => {
  let now = new Date();
  let manager: ServingCertManager;
  const secret = async (name: string) => JSON.parse(await cp.kubectlOk(["get", "secret", name, "-n", NS, "-o", "json"])) as Secret;
  const field = (s: Secret, key: string) => Buffer.from(s.data[key] ?? "", "base64").toString("utf8");
  const bundle = async () =>
    (JSON.parse(await cp.kubectlOk(["get", "configmap", "ebpf-operator-serving-ca", "-n", NS, "-o", "json"])) as { data: { "ca.crt": string } }).data["ca.crt"];

  beforeAll(async () => {
    await cp.kubectlOk(["create", "namespace", NS]);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cp.kubeconfig);
    manager = new ServingCertManager({
      kubeConfig,
      namespace: NS,
      caSecret: "ebpf-operator-ca",
      caConfigMap: "ebpf-operator-serving-ca",
      endpoints: [
        { secret: "ebpf-operator-agent-tls", dnsNames: serviceDnsNames("ebpf-operator-agent-metrics", NS) },
        { secret: "ebpf-operator-metrics-tls", dnsNames: serviceDnsNames("ebpf-operator-metrics", NS) },
      ],
      logger: createLogger({ level: "silent" }),
      caLifetimeMs: 100 * DAY,
      certLifetimeMs: 30 * DAY,
      caOverlapMs: DAY,
      now: () => now,
    });
  });

  afterAll(async () => {
    await deleteNamespace(cp, NS).catch(() => undefined);
  });

  it("makes a CA, a bundle scrapers can read and one kubernetes.io/tls Secret per endpoint, signed by the CA for the Service's names", async () => {
    await manager.reconcile();
    const ca = await secret("ebpf-operator-ca");
    const agent = await secret("ebpf-operator-agent-tls");
    expect(agent.type).toBe("kubernetes.io/tls");
    expect(keyMatches({ cert: field(agent, "tls.crt"), key: field(agent, "tls.key") })).toBe(true);
    expect(signedBy(field(agent, "tls.crt"), field(ca, "ca.crt"))).toBe(true);
    expect(certificateFacts(field(agent, "tls.crt")).dnsNames).toEqual(serviceDnsNames("ebpf-operator-agent-metrics", NS));
    expect(await bundle()).toBe(field(ca, "ca.crt"));
    expect(field(agent, "ca.crt")).toBe(field(ca, "ca.crt"));
    expect(field(agent, "ca.crt")).not.toContain("PRIVATE KEY");
    // A second pass with nothing due writes nothing.
    const versions = [(await secret("ebpf-operator-ca")).metadata.resourceVersion, agent.metadata.resourceVersion];
    await manager.reconcile();
    expect([(await secret("ebpf-operator-ca")).metadata.resourceVersion, (await secret("ebpf-operator-agent-tls")).metadata.resourceVersion]).toEqual(versions);
  });

  it("re-issues a certificate with a third of its life left, and one whose key was tampered with", async () => {
    const first = field(await secret("ebpf-operator-agent-tls"), "tls.crt");
    now = new Date(now.getTime() + 19 * DAY); // 11 of 30 days left: not yet
    await manager.reconcile();
    expect(field(await secret("ebpf-operator-agent-tls"), "tls.crt")).toBe(first);
    now = new Date(now.getTime() + 2 * DAY); // 9 left: due
    await manager.reconcile();
    const second = field(await secret("ebpf-operator-agent-tls"), "tls.crt");
    expect(second).not.toBe(first);
    expect(certificateFacts(second).notAfter.getTime()).toBeGreaterThan(now.getTime() + 29 * DAY);

    const tampered = await secret("ebpf-operator-metrics-tls");
    const other = await secret("ebpf-operator-agent-tls");
    await cp.kubectlOk([
      "patch",
      "secret",
      "ebpf-operator-metrics-tls",
      "-n",
      NS,
      "--type=merge",
      "-p",
      JSON.stringify({ data: { "tls.key": other.data["tls.key"] } }),
    ]);
    await manager.reconcile();
    const repaired = await secret("ebpf-operator-metrics-tls");
    expect(field(repaired, "tls.crt")).not.toBe(field(tampered, "tls.crt"));
    expect(keyMatches({ cert: field(repaired, "tls.crt"), key: field(repaired, "tls.key") })).toBe(true);
  });

  it("renews the CA with an overlap: published first, signing a day later, the old one trusted until it expires", async () => {
    const oldCa = field(await secret("ebpf-operator-ca"), "ca.crt");
    now = new Date(certificateFacts(oldCa).notAfter.getTime() - 19 * DAY); // under a fifth of 100 days left
    await manager.reconcile();
    const renewing = await secret("ebpf-operator-ca");
    const nextCa = field(renewing, "next.crt");
    expect(nextCa).toContain("BEGIN CERTIFICATE");
    expect(renewing.metadata.annotations?.["observability.cloud/next-ca-since"]).toBe(now.toISOString());
    expect(splitBundle(await bundle())).toEqual([oldCa, nextCa]);
    // Not signing yet: the serving certificates are still the old CA's (re-issued because due).
    expect(signedBy(field(await secret("ebpf-operator-agent-tls"), "tls.crt"), oldCa)).toBe(true);

    now = new Date(now.getTime() + DAY);
    await manager.reconcile();
    const promoted = await secret("ebpf-operator-ca");
    expect(field(promoted, "ca.crt")).toBe(nextCa);
    expect(splitBundle(await bundle())).toEqual([nextCa, oldCa]);
    for (const name of ["ebpf-operator-agent-tls", "ebpf-operator-metrics-tls"]) {
      const s = await secret(name);
      expect(signedBy(field(s, "tls.crt"), nextCa), name).toBe(true);
      expect(field(s, "ca.crt")).toBe(await bundle());
    }

    now = new Date(certificateFacts(oldCa).notAfter.getTime() + 1000); // the old CA expired
    await manager.reconcile();
    expect(splitBundle(await bundle())).toEqual([nextCa]);
  });
});
