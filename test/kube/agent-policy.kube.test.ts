/**
 * The agent decides the tenancy policy itself and trusts no status: a real agent (in-process,
 * the real kernel, its own pin root) against a real kube-apiserver, with no operator running.
 * An EbpfMap whose status claims a compiled object — as a forged or stale status would — in a
 * namespace the policy refuses is not loaded: the agent reports the refusal on its node report,
 * naming the policy and the rule, and keeps it reported. When the admin grants the namespace,
 * the same status makes the agent try (and fail only on the missing object); when the node is a
 * control-plane node, it refuses again by rule nodes.controlPlane.
 *
 * The agent's loader enforces the namespace's policy too (its helper grant, verdict mode and
 * object quotas, TOKENS.Enforcement): a real object published as the operator would, whose map
 * is over the policy's quota, is refused before the kernel allocates it, and loads once the admin
 * raises the quota.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_PLUGINS, BpfCompiler, DEFAULT_QUOTAS, createLogger } from "@ebpf-operator/core";
import { ObjectStore, startClusterAgent, type RunningClusterAgent } from "@ebpf-operator/operator";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { attachControlPlane, deleteNamespace, repoRoot } from "../helpers/kube/control-plane.js";
import { eventually } from "../helpers/kube/resources.js";
import { COUNTER_CODE, tracepointManifest } from "../helpers/manifests.js";

requireKernelCapabilities();

const cp = attachControlPlane();
const SYSTEM = "eop-agent-policy-system";
const TENANT = "eop-agent-policy-tenant";
const NODE = `eop-agent-policy-node-${process.pid}`;
const NAME = "forged-status";
const pinRoot = `/sys/fs/bpf/eop-test-agent-policy-${process.pid}`;
const HASH = "ab".repeat(32);
const POLICY = `eop-agent-policy-entries-${process.pid}`;

interface NodeReport {
  spec: { ebpfMap: string; nodeName: string };
  status: { phase: string; lastError?: { code?: string; message: string } };
}

async function report(name = NAME): Promise<NodeReport | undefined> {
  const out = await cp.kubectlOk(["get", "ebpfmapnodestatuses", "-n", TENANT, "-l", `observability.cloud/ebpfmap=${name}`, "-o", "json"]);
  return (JSON.parse(out) as { items: NodeReport[] }).items.find((i) => i.spec.nodeName === NODE);
}

describe("the agent's own policy check", () => {
  let agent: RunningClusterAgent | undefined;
  let cacheDir: string;

  beforeAll(async () => {
    cacheDir = mkdtempSync(join(tmpdir(), `eop-agent-policy-${process.pid}-`));
    await cp.kubectlOk(["apply", "-f", join(repoRoot, "deploy/crds")]);
    await cp.kubectlOk([
      "wait",
      "--for=condition=Established",
      "crd/ebpfmaps.observability.cloud",
      "crd/ebpftenancypolicies.observability.cloud",
      "--timeout=60s",
    ]);
    for (const ns of [SYSTEM, TENANT]) await cp.kubectlOk(["create", "namespace", ns]);
    await cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: NODE } }) });
    await cp.kubectlOk(["apply", "-n", TENANT, "-f", "-"], { input: tracepointManifest({ name: NAME }) });
    // The status an operator would write once admitted and compiled: here nothing admitted it.
    await cp.kubectlOk([
      "patch",
      "ebpfmap",
      NAME,
      "-n",
      TENANT,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { object: { hash: HASH, sha256: HASH, configMap: `ebpf-object-${HASH.slice(0, 40)}`, namespace: SYSTEM, generation: 1 } } }),
    ]);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cp.kubeconfig);
    agent = await startClusterAgent({
      kubeConfig,
      nodeName: NODE,
      objectNamespace: SYSTEM,
      pinRoot,
      cacheDir,
      plugins: BUILTIN_PLUGINS,
      listen: "127.0.0.1:0",
      logger: createLogger({ level: (process.env.EOP_TEST_LOG_LEVEL as "info" | undefined) ?? "silent" }),
      bpfStats: false,
    });
  });

  afterAll(async () => {
    await agent?.stop();
    await cp.kubectl(["delete", "ebpftenancypolicy", POLICY, "--ignore-not-found"]);
    for (const ns of [TENANT, SYSTEM]) await deleteNamespace(cp, ns).catch(() => undefined);
    await cp.kubectl(["delete", "node", NODE, "--ignore-not-found"]);
    rmSync(pinRoot, { recursive: true, force: true });
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it("refuses a resource whose status claims a compiled object when the namespace's policy refuses it, and keeps the refusal reported", async () => {
    const refused = await eventually("the agent's refusal on its node report", async () => {
      const r = await report();
      return r?.status.lastError?.code === "EOP_ERR_POLICY_REFUSED" ? r : undefined;
    });
    expect(refused.status.phase).toBe("Failed");
    expect(refused.status.lastError!.message).toContain(
      `refused by the default policy (no EbpfTenancyPolicy selects namespace "${TENANT}"), rule targetScopes`,
    );
    // Nothing of it in the kernel or under the pin root.
    expect(existsSync(join(pinRoot, TENANT))).toBe(false);
    // Still reported a while later (the start-up clean-up of stale reports keeps refusals).
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await report())?.status.lastError?.code).toBe("EOP_ERR_POLICY_REFUSED");
  });

  it("follows the policy, not the status: granted, it goes on to fetch the object; on a control-plane node, it refuses again", async () => {
    await cp.kubectlOk(["label", "namespace", TENANT, "observability.cloud/allow-kernel-wide-programs=true"]);
    const tried = await eventually("the agent past the policy", async () => {
      const r = await report();
      return r && r.status.lastError?.code !== "EOP_ERR_POLICY_REFUSED" ? r : undefined;
    });
    // The object the forged status names does not exist: the load fails there, not at the policy.
    expect(tried.status.phase).toBe("Failed");
    expect(tried.status.lastError?.message).toContain(`ebpf-object-${HASH.slice(0, 40)}`);

    await cp.kubectlOk(["label", "node", NODE, "node-role.kubernetes.io/control-plane="]);
    const again = await eventually("refused on a control-plane node", async () => {
      const r = await report();
      return r?.status.lastError?.code === "EOP_ERR_POLICY_REFUSED" ? r : undefined;
    });
    expect(again.status.lastError!.message).toContain(`rule nodes.controlPlane: node "${NODE}" is a control-plane node`);
    expect(existsSync(join(pinRoot, TENANT))).toBe(false);
  });

  it("loads under the namespace's policy: a map over its mapEntries quota is refused by the loader, and loads once the admin raises the quota", async () => {
    await cp.kubectlOk(["label", "node", NODE, "node-role.kubernetes.io/control-plane-"]);
    const name = "big-array";
    const entries = DEFAULT_QUOTAS.mapEntries * 2;
    const code = COUNTER_CODE.replace("__uint(max_entries, 1);", `__uint(max_entries, ${entries});`);
    expect(code).toContain(`max_entries, ${entries}`);
    // Compiled and published as the operator would (the operator refuses it too; here it is not running).
    const compiled = await new BpfCompiler({ cacheDir }).compile({ source: code, label: name });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cp.kubeconfig);
    const published = await new ObjectStore(kubeConfig, SYSTEM).publish(compiled.hash, compiled.objectPath);
    await cp.kubectlOk(["apply", "-n", TENANT, "-f", "-"], { input: tracepointManifest({ name, code, metric: "big_array" }) });
    await cp.kubectlOk([
      "patch",
      "ebpfmap",
      name,
      "-n",
      TENANT,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { object: { hash: compiled.hash, sha256: published.sha256, configMap: published.name, namespace: SYSTEM, generation: 1 } } }),
    ]);
    // The namespace has the kernel-wide label (previous test): admitted, under the default quotas.
    const refused = await eventually("the loader's refusal", async () => {
      const r = await report(name);
      return r?.status.lastError?.code === "EOP_ERR_OBJECT_REFUSED" ? r : undefined;
    });
    expect(refused.status.phase).toBe("Failed");
    expect(refused.status.lastError!.message).toContain(`map "execve_count" has max_entries ${entries}; the rules allow ${DEFAULT_QUOTAS.mapEntries}`);
    expect(existsSync(join(pinRoot, TENANT, name))).toBe(false);

    await cp.kubectlOk(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "observability.cloud/v1",
        kind: "EbpfTenancyPolicy",
        metadata: { name: POLICY },
        spec: {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": TENANT } },
          targetScopes: ["pod", "node"],
          quotas: { mapEntries: entries },
        },
      }),
    });
    const running = await eventually("loaded under the raised quota", async () => {
      const r = await report(name);
      return r?.status.phase === "Running" ? r : undefined;
    });
    expect(running.status.lastError).toBeUndefined();
    expect(existsSync(join(pinRoot, TENANT, name))).toBe(true);

    await cp.kubectlOk(["delete", "ebpfmap", name, "-n", TENANT]);
    await eventually("unloaded once deleted", async () => !existsSync(join(pinRoot, TENANT, name)));
  });
});
