/**
 * The operator against a real kube-apiserver + etcd, driven with the real kubectl: CRDs from
 * deploy/, the README quick start, API-server validation, compile-once and publish, status
 * aggregation from per-node status objects, tenancy, events, finalizers and leader election.
 * No agent runs here: the tests write the per-node status objects an agent would.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metricsReaderToken } from "../helpers/kube/metrics-reader.js";
import { secureGet } from "../helpers/secure-fetch.js";
import { BUILTIN_PLUGINS, createLogger } from "@ebpf-operator/core";
import { ALLOW_KERNEL_WIDE_LABEL, LeaderElector, startOperator, type RunningOperator } from "@ebpf-operator/operator";
import { COUNTER_CODE, tracepointManifest } from "../helpers/manifests.js";
import { attachControlPlane, deleteNamespace } from "../helpers/kube/control-plane.js";
import { condition, eventually, getEbpfMap } from "../helpers/kube/resources.js";

const cp = attachControlPlane();
const repo = new URL("../../", import.meta.url).pathname;
const OPERATOR_NS = "eop-test-system";
const ALLOWED = "eop-team-a";
const NOT_ALLOWED = "eop-team-b";
const NODE = "eop-test-node-1";

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  return kc;
}

async function startTestOperator(cacheDir: string, identity: string): Promise<RunningOperator> {
  return startOperator({
    kubeConfig: kubeConfig(),
    namespace: OPERATOR_NS,
    cacheDir,
    plugins: BUILTIN_PLUGINS,
    listen: "127.0.0.1:0",
    identity,
    logger: createLogger({ level: (process.env.EOP_TEST_LOG_LEVEL as "info" | undefined) ?? "silent" }),
    unloadTimeoutMs: 20_000,
  });
}

/** What the agent on NODE writes once it runs the resource. */
function nodeStatus(namespace: string, ebpfMap: string, generation: number, objectHash: string, phase = "Running", message?: string): string {
  return JSON.stringify({
    apiVersion: "observability.cloud/v1",
    kind: "EbpfMapNodeStatus",
    metadata: { name: `${ebpfMap}.${NODE}`, namespace, labels: { "observability.cloud/ebpfmap": ebpfMap, "observability.cloud/node": NODE } },
    spec: { ebpfMap, nodeName: NODE },
    status: {
      phase,
      observedGeneration: generation,
      objectHash,
      ...(message ? { lastError: { code: "EOP_ERR_ATTACH_FAILED", message, time: new Date().toISOString() } } : {}),
    },
  });
}

describe("operator on a real API server", () => {
  let cacheDir: string;
  let operator: RunningOperator;

  /** A tracepoint EbpfMap of its own for one test, compiled for its current generation. */
  async function compiledResource(name: string) {
    await cp.kubectlOk(["apply", "-n", ALLOWED, "-f", "-"], { input: tracepointManifest({ name }) });
    return eventually(`${name} compiled`, async () => {
      const r = await getEbpfMap(cp, ALLOWED, name);
      return r?.status?.object && r.status.object.generation === r.metadata.generation ? r : undefined;
    });
  }

  beforeAll(async () => {
    cacheDir = mkdtempSync(join(tmpdir(), "eop-operator-cache-"));
    await cp.kubectlOk(["apply", "-f", join(repo, "deploy/crds")]);
    await cp.kubectlOk([
      "wait",
      "--for",
      "condition=established",
      "crd/ebpfmaps.observability.cloud",
      "crd/ebpfmapnodestatuses.observability.cloud",
      "--timeout=60s",
    ]);
    for (const ns of [OPERATOR_NS, ALLOWED, NOT_ALLOWED]) await cp.kubectlOk(["create", "namespace", ns]);
    await cp.kubectlOk(["label", "namespace", ALLOWED, `${ALLOW_KERNEL_WIDE_LABEL}=true`]);
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: NODE, labels: { "eop-test/monitored": "yes" } } }),
    });
    operator = await startTestOperator(cacheDir, "operator-1");
  });

  afterAll(async () => {
    await operator?.stop();
    for (const ns of [ALLOWED, NOT_ALLOWED, OPERATOR_NS]) await deleteNamespace(cp, ns).catch(() => undefined);
    await cp.kubectl(["delete", "node", NODE, "--ignore-not-found"]);
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it("accepts the README quick-start manifest unchanged", async () => {
    const manifest = readFileSync(join(repo, "examples/quick-start.yaml"), "utf8");
    const out = await cp.kubectlOk(["apply", "-n", ALLOWED, "-f", "-"], { input: manifest });
    expect(out).toContain("ebpfmap.observability.cloud/syscall-monitor created");
    const resource = await eventually("the quick start compiled", async () => {
      const r = await getEbpfMap(cp, ALLOWED, "syscall-monitor");
      return condition(r, "Compiled")?.status === "True" ? r : undefined;
    });
    expect(resource.metadata.finalizers).toContain("observability.cloud/unload");
  });

  it("refuses invalid manifests at the API server, naming the field", async () => {
    const bad = tracepointManifest({ name: "bad", prometheusType: "summary" });
    const result = await cp.kubectl(["apply", "-n", ALLOWED, "-f", "-"], { input: bad });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/spec\.prometheusType: Unsupported value: "summary"/);
    const unknownField = await cp.kubectl(["apply", "-n", ALLOWED, "-f", "-"], { input: bad.replace("prometheusType: summary", "colour: blue") });
    expect(unknownField.code).not.toBe(0);
    expect(unknownField.stderr).toMatch(/unknown field "spec\.colour"/);
    const badProgram = await cp.kubectl(["apply", "-n", ALLOWED, "-f", "-"], { input: tracepointManifest({ name: "bad", program: "count-execve" }) });
    expect(badProgram.stderr).toMatch(/spec\.program: Invalid value/);
    const neither = await cp.kubectl(["apply", "-n", ALLOWED, "-f", "-"], { input: tracepointManifest({ name: "bad" }).replace(/\n {2}map: .*\n/, "\n") });
    expect(neither.code).not.toBe(0);
    expect(neither.stderr).toMatch(/spec\.map: Required value/);
  });

  it("takes several programs per resource (spec.programs): the CRD accepts them, refuses a mix with the flat fields, and each target is checked", async () => {
    const pair = readFileSync(join(repo, "examples/syscall-errors.yaml"), "utf8");
    expect((await cp.kubectlOk(["apply", "-n", ALLOWED, "-f", "-"], { input: pair })).trim()).toBe("ebpfmap.observability.cloud/syscall-errors created");
    const compiled = await eventually("the pair compiled", async () => {
      const r = await getEbpfMap(cp, ALLOWED, "syscall-errors");
      return condition(r, "Compiled")?.status === "True" ? r : undefined;
    });
    expect(compiled.status?.object?.hash).toMatch(/^[0-9a-f]{64}$/);

    // The API server's own rule (CEL), with the message users see from kubectl.
    const mixed = await cp.kubectl(["apply", "-n", ALLOWED, "-f", "-"], {
      input: pair.replace("metadata:\n  name: syscall-errors", "metadata:\n  name: mixed").replace("spec:\n", "spec:\n  type: tracepoint\n"),
    });
    expect(mixed.code).not.toBe(0);
    expect(mixed.stderr).toContain("set program, type and target for one program, or programs for several, not both");

    // A target only the plugin can judge: refused by the operator, naming the entry.
    const badTarget = pair.replace("name: syscall-errors", "name: bad-target").replace("target: sys_exit", "target: raw_syscalls/sys_exit");
    await cp.kubectlOk(["apply", "-n", ALLOWED, "-f", "-"], { input: badTarget });
    const refused = await eventually("the invalid target refused", async () => {
      const r = await getEbpfMap(cp, ALLOWED, "bad-target");
      return condition(r, "Ready")?.reason === "InvalidSpec" ? r : undefined;
    });
    expect(condition(refused, "Ready")!.message).toContain('spec.programs[1].target "raw_syscalls/sys_exit" is not a valid raw_tp target');

    // The tenancy policy decides each program too (the default policy: no node-wide target).
    await cp.kubectlOk(["apply", "-n", NOT_ALLOWED, "-f", "-"], { input: pair });
    const notAllowed = await eventually("the tenancy refusal of the pair", async () => {
      const r = await getEbpfMap(cp, NOT_ALLOWED, "syscall-errors");
      return condition(r, "Ready")?.reason === "PolicyRefused" ? r : undefined;
    });
    expect(condition(notAllowed, "Ready")!.message).toContain('rule targetScopes: spec.programs[0].target "sys_enter" of program type raw_tp is node-wide');
    expect(notAllowed.status?.object).toBeUndefined();
    for (const [ns, name] of [
      [ALLOWED, "syscall-errors"],
      [ALLOWED, "bad-target"],
      [NOT_ALLOWED, "syscall-errors"],
    ] as const) {
      await cp.kubectlOk(["delete", "ebpfmap", name, "-n", ns, "--wait=false"]);
    }
  });

  it("compiles once, publishes the object and reports 0/1 nodes ready until the agent reports", async () => {
    await cp.kubectlOk(["apply", "-n", ALLOWED, "-f", "-"], { input: tracepointManifest({ name: "execs" }) });
    const compiled = await eventually("execs compiled", async () => {
      const r = await getEbpfMap(cp, ALLOWED, "execs");
      return r?.status?.object && r.status.ready === "0/1" ? r : undefined;
    });
    expect(condition(compiled, "Ready")).toMatchObject({ status: "False", reason: "NodesNotReady", observedGeneration: compiled.metadata.generation });
    const configMap = JSON.parse(await cp.kubectlOk(["get", "configmap", compiled.status!.object!.configMap, "-n", OPERATOR_NS, "-o", "json"])) as {
      immutable: boolean;
      binaryData: Record<string, string>;
    };
    expect(configMap.immutable).toBe(true);
    // An ELF object for the BPF machine (EM_BPF = 247).
    const elf = Buffer.from(configMap.binaryData["object.o"]!, "base64");
    expect(elf.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
    expect(elf.readUInt16LE(18)).toBe(247);

    await cp.kubectlOk(["apply", "-f", "-"], { input: nodeStatus(ALLOWED, "execs", compiled.metadata.generation, compiled.status!.object!.hash) });
    const ready = await eventually("execs ready on 1/1", async () => {
      const r = await getEbpfMap(cp, ALLOWED, "execs");
      return r?.status?.ready === "1/1" ? r : undefined;
    });
    expect(condition(ready, "Ready")).toMatchObject({ status: "True", reason: "AllNodesReady" });
    const table = await cp.kubectlOk(["get", "ebpfmap", "execs", "-n", ALLOWED]);
    expect(table).toMatch(/NAME\s+TYPE\s+TARGET\s+READY\s+STATUS\s+AGE/);
    expect(table).toMatch(/execs\s+tracepoint\s+syscalls\/sys_enter_execve\s+1\/1\s+AllNodesReady/);
  });

  it("counts a node's failure, names it, and is not ready", async () => {
    const before = await compiledResource("failing");
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: nodeStatus(ALLOWED, "failing", before.metadata.generation, before.status!.object!.hash, "Failed", "attach failed: no such device"),
    });
    const failed = await eventually("failing failed on the node", async () => {
      const r = await getEbpfMap(cp, ALLOWED, "failing");
      return r?.status?.failedNodes === 1 ? r : undefined;
    });
    expect(failed.status!.failures).toEqual([{ node: NODE, phase: "Failed", code: "EOP_ERR_ATTACH_FAILED", message: "attach failed: no such device" }]);
    expect(condition(failed, "Degraded")).toMatchObject({ status: "True", reason: "NodesFailed" });
    expect(condition(failed, "Ready")).toMatchObject({ status: "False", reason: "NodesFailed" });
    const describe = await eventually("the node failure as an Event", async () => {
      const out = await cp.kubectlOk(["describe", "ebpfmap", "failing", "-n", ALLOWED]);
      return /Warning\s+NodesFailed/.test(out) ? out : undefined;
    });
    expect(describe).toContain("attach failed: no such device");
  });

  it("treats an agent report of an older generation as pending after an edit", async () => {
    const before = await compiledResource("edited");
    await cp.kubectlOk(["apply", "-f", "-"], { input: nodeStatus(ALLOWED, "edited", before.metadata.generation, before.status!.object!.hash) });
    await eventually("edited ready on 1/1", async () => (await getEbpfMap(cp, ALLOWED, "edited"))?.status?.ready === "1/1");
    await cp.kubectlOk(["apply", "-n", ALLOWED, "-f", "-"], { input: tracepointManifest({ name: "edited", code: `${COUNTER_CODE}\n// v2\n` }) });
    const edited = await eventually("the edit compiled", async () => {
      const r = await getEbpfMap(cp, ALLOWED, "edited");
      return r && r.metadata.generation > before.metadata.generation && r.status?.object?.generation === r.metadata.generation ? r : undefined;
    });
    expect(edited.status!.object!.hash).not.toBe(before.status!.object!.hash);
    expect(edited.status!.ready).toBe("0/1");
  });

  it("reports a compile error with its line in the condition and as an Event", async () => {
    await cp.kubectlOk(["apply", "-n", ALLOWED, "-f", "-"], {
      input: tracepointManifest({ name: "broken", code: COUNTER_CODE.replace("u32 key = 0;", "u32 key = ;") }),
    });
    const broken = await eventually("the compile error", async () => {
      const r = await getEbpfMap(cp, ALLOWED, "broken");
      return condition(r, "Compiled")?.status === "False" ? r : undefined;
    });
    expect(condition(broken, "Compiled")!.message).toMatch(/compile EbpfMap "eop-team-a\/broken": \d+:\d+: error: expected expression/);
    expect(condition(broken, "Ready")).toMatchObject({ status: "False", reason: "CompileFailed" });
    const describe = await eventually("the event in kubectl describe", async () => {
      const out = await cp.kubectlOk(["describe", "ebpfmap", "broken", "-n", ALLOWED]);
      return out.includes("CompileFailed") ? out : undefined;
    });
    expect(describe).toMatch(/Warning\s+CompileFailed/);
  });

  it("refuses kernel-wide program types in a namespace the admin has not allowed", async () => {
    await cp.kubectlOk(["apply", "-n", NOT_ALLOWED, "-f", "-"], { input: tracepointManifest({ name: "sneaky" }) });
    const refused = await eventually("the tenancy refusal", async () => {
      const r = await getEbpfMap(cp, NOT_ALLOWED, "sneaky");
      return condition(r, "Ready")?.reason === "PolicyRefused" ? r : undefined;
    });
    expect(condition(refused, "Ready")!.message).toContain(`${ALLOW_KERNEL_WIDE_LABEL}=true`);
    expect(refused.status?.object).toBeUndefined();

    // The admin's label takes effect without an edit of the resource (the Namespace watch), and
    // so does taking it away.
    await cp.kubectlOk(["label", "namespace", NOT_ALLOWED, `${ALLOW_KERNEL_WIDE_LABEL}=true`]);
    const allowed = await eventually("compiled once allowed", async () => {
      const r = await getEbpfMap(cp, NOT_ALLOWED, "sneaky");
      return condition(r, "Compiled")?.status === "True" ? r : undefined;
    });
    expect(allowed.status?.object?.hash).toMatch(/^[0-9a-f]{64}$/);
    await cp.kubectlOk(["label", "namespace", NOT_ALLOWED, `${ALLOW_KERNEL_WIDE_LABEL}-`]);
    await eventually("refused again", async () => condition(await getEbpfMap(cp, NOT_ALLOWED, "sneaky"), "Ready")?.reason === "PolicyRefused");
    await cp.kubectlOk(["delete", "ebpfmap", "sneaky", "-n", NOT_ALLOWED, "--wait=false"]);
  });

  it("says so when the node selector matches no node", async () => {
    const manifest = tracepointManifest({ name: "nowhere" }).replace("spec:\n", 'spec:\n  nodeSelector:\n    eop-test/monitored: "never"\n');
    await cp.kubectlOk(["apply", "-n", ALLOWED, "-f", "-"], { input: manifest });
    const nowhere = await eventually("no nodes selected", async () => {
      const r = await getEbpfMap(cp, ALLOWED, "nowhere");
      return condition(r, "Ready")?.reason === "NoNodesSelected" ? r : undefined;
    });
    expect(nowhere.status!.ready).toBe("0/0");
    await eventually("the NoNodesSelected Event", async () =>
      /Warning\s+NoNodesSelected/.test(await cp.kubectlOk(["describe", "ebpfmap", "nowhere", "-n", ALLOWED])),
    );
    // Labelling the node makes it selected: the Node watch re-evaluates.
    await cp.kubectlOk(["label", "node", NODE, "eop-test/monitored=never", "--overwrite"]);
    await eventually("the node selected", async () => (await getEbpfMap(cp, ALLOWED, "nowhere"))?.status?.ready === "0/1");
    await cp.kubectlOk(["label", "node", NODE, "eop-test/monitored=yes", "--overwrite"]);
  });

  it("keeps a deleted resource until its node confirms the unload", async () => {
    const current = await compiledResource("deleted");
    await cp.kubectlOk(["apply", "-f", "-"], { input: nodeStatus(ALLOWED, "deleted", current.metadata.generation, current.status!.object!.hash) });
    await cp.kubectlOk(["delete", "ebpfmap", "deleted", "-n", ALLOWED, "--wait=false"]);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await getEbpfMap(cp, ALLOWED, "deleted")).toBeDefined(); // held by the finalizer
    await cp.kubectlOk(["delete", "ebpfmapnodestatus", `deleted.${NODE}`, "-n", ALLOWED]);
    await eventually("the resource gone", async () => (await getEbpfMap(cp, ALLOWED, "deleted")) === undefined);
  });

  it("lets only the Lease holder reconcile, and hands over on shutdown", async () => {
    const standbyCache = mkdtempSync(join(tmpdir(), "eop-operator-cache-"));
    const standby = await startTestOperator(standbyCache, "operator-2");
    try {
      await new Promise((r) => setTimeout(r, 3_000));
      expect((await secureGet(`${standby.url}/readyz`)).status).toBe(503);
      expect((await secureGet(`${standby.url}/metrics`)).status).toBe(401);
      const reader = await metricsReaderToken(cp, OPERATOR_NS, `operator-reader-${process.pid}`);
      try {
        const leaderMetric = (await secureGet(`${standby.url}/metrics`, { token: reader.token })).body;
        expect(leaderMetric).toMatch(/^ebpf_operator_controller_leader 0$/m);
      } finally {
        await reader.remove();
      }
      await operator.stop();
      await eventually("the standby to lead", async () => (await secureGet(`${standby.url}/readyz`)).status === 200, 30_000);
      const lease = JSON.parse(await cp.kubectlOk(["get", "lease", "ebpf-operator-leader", "-n", OPERATOR_NS, "-o", "json"])) as {
        spec: { holderIdentity: string };
      };
      expect(lease.spec.holderIdentity).toBe("operator-2");
      // The new leader reconciles: a new resource gets compiled.
      await cp.kubectlOk(["apply", "-n", ALLOWED, "-f", "-"], { input: tracepointManifest({ name: "after-handover" }) });
      await eventually("after-handover compiled", async () => condition(await getEbpfMap(cp, ALLOWED, "after-handover"), "Compiled")?.status === "True");
    } finally {
      operator = standby; // afterAll stops whoever leads now
      rmSync(standbyCache, { recursive: true, force: true });
    }
  });

  it("gives the Lease up on shutdown even when a renewal is in flight", async () => {
    // A renewal every 15 ms and releases at staggered moments: some land while a renewal's
    // update is on the wire, which once left the lease held (409 Conflict on the release).
    const logger = createLogger({ level: "silent" });
    for (let round = 0; round < 12; round++) {
      const name = `race-lease-${process.pid}`;
      const elector = new LeaderElector({ kubeConfig: kubeConfig(), namespace: OPERATOR_NS, name, identity: `racer-${round}`, retryMs: 15, logger });
      let lost = false;
      await elector.acquire(() => (lost = true));
      await new Promise((r) => setTimeout(r, 15 + ((round * 7) % 31)));
      await elector.release();
      const lease = JSON.parse(await cp.kubectlOk(["get", "lease", name, "-n", OPERATOR_NS, "-o", "json"])) as {
        spec: { holderIdentity?: string };
      };
      expect(lease.spec.holderIdentity, `round ${round}`).toBeUndefined();
      expect(lost, `round ${round}: stopping is not losing the lease`).toBe(false);
      await cp.kubectlOk(["delete", "lease", name, "-n", OPERATOR_NS]);
    }
  });
});
