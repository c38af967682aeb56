/**
 * The tenancy policy (EbpfTenancyPolicy) attacked as tenants would: a real kube-apiserver, the
 * real kubectl with alice's and bob's client certificates (each bound to ebpf-operator-edit in
 * their own namespace only, the role every namespace editor gets), the operator running against
 * it, and an admin who writes the policies. Every attack must be refused with a condition on
 * that resource naming the policy and the rule (or by the API server, naming the field), and
 * bob's resource must come out of it exactly as it went in.
 *
 * No agent runs here (test/kernel has the agent's side: series caps at scrape time); the nodes
 * are Node objects the admin creates: a worker and a control-plane node.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { BUILTIN_PLUGINS, createLogger } from "@ebpf-operator/core";
import { startOperator, type RunningOperator } from "@ebpf-operator/operator";
import { attachControlPlane, deleteNamespace, repoRoot, type KubectlResult } from "../helpers/kube/control-plane.js";
import { condition, eventually, getEbpfMap, type KubeEbpfMap } from "../helpers/kube/resources.js";
import { example, tracepointManifest } from "../helpers/manifests.js";

const cp = attachControlPlane();
const OPERATOR_NS = "eop-policy-system";
const ALICE = "eop-policy-alice";
const BOB = "eop-policy-bob";
const WORKER = "eop-policy-worker";
const CONTROL_PLANE = "eop-policy-control-plane";
const BOB_POLICY = "eop-policy-bob-tracing";
const ALICE_POLICY = "eop-policy-alice-xdp";
const ALICE_HELPERS_POLICY = "eop-policy-alice-helpers";
const ALICE_POD_LABELS_POLICY = "eop-policy-alice-pod-labels";

let alice: string;
let bob: string;
let operator: RunningOperator;
let cacheDir: string;

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec: Record<string, unknown> };

/** An example manifest with fields replaced (a tenant's edit of it). */
function fromExample(file: string, name: string, spec: Record<string, unknown> = {}): string {
  const manifest = parseYaml(example(file)) as Manifest;
  manifest.metadata = { name };
  Object.assign(manifest.spec, spec);
  return stringifyYaml(manifest);
}

const as = (kubeconfig: string, args: string[], input?: string): Promise<KubectlResult> =>
  cp.kubectl(args, input === undefined ? { kubeconfig } : { kubeconfig, input });

async function applyAs(kubeconfig: string, namespace: string, manifest: string): Promise<void> {
  const result = await as(kubeconfig, ["apply", "-n", namespace, "-f", "-"], manifest);
  if (result.code !== 0) throw new Error(`kubectl apply failed: ${result.stderr}`);
}

interface PolicyStatus {
  kind: string;
  name: string;
  admitted: boolean;
  rule?: string;
  message: string;
}
const policyOf = (r: KubeEbpfMap | undefined) => (r?.status as { policy?: PolicyStatus } | undefined)?.policy;

/** Waits until the operator has decided on the resource's current generation; returns it. */
async function decided(namespace: string, name: string): Promise<KubeEbpfMap> {
  return eventually(`${namespace}/${name} decided`, async () => {
    const r = await getEbpfMap(cp, namespace, name);
    const admitted = condition(r, "Admitted");
    return r && admitted && admitted.observedGeneration === r.metadata.generation ? r : undefined;
  });
}

/** Expects the resource refused by `policy` under `rule`; returns the Ready condition's message. */
async function refused(namespace: string, name: string, rule: string, policy: { kind: string; name: string }): Promise<string> {
  const r = await decided(namespace, name);
  expect(policyOf(r)).toMatchObject({ ...policy, admitted: false, rule });
  expect(condition(r, "Admitted")).toMatchObject({ status: "False", reason: "PolicyRefused" });
  const ready = condition(r, "Ready")!;
  expect(ready).toMatchObject({ status: "False", reason: "PolicyRefused" });
  expect(ready.message).toContain(`rule ${rule}`);
  // Refused before compiling: nothing was published for an agent to load.
  expect(r.status?.object).toBeUndefined();
  return ready.message;
}

const DEFAULT = { kind: "Default", name: "default" };

function policy(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: "observability.cloud/v1", kind: "EbpfTenancyPolicy", metadata: { name }, spec });
}

/** Bob's resource as the admin reads it: what must not change while alice attacks. */
async function bobsState(): Promise<string> {
  const r = await getEbpfMap(cp, BOB, "bobs-counter");
  const status = r?.status as Record<string, unknown> | undefined;
  return JSON.stringify({
    generation: r?.metadata.generation,
    object: status?.object,
    policy: status?.policy,
    ready: status?.ready,
    conditions: r?.status?.conditions,
  });
}

describe("tenancy policy against hostile tenants", () => {
  let bobBefore: string;

  beforeAll(async () => {
    cacheDir = mkdtempSync(join(tmpdir(), `eop-policy-cache-${process.pid}-`));
    await cp.kubectlOk(["apply", "-f", join(repoRoot, "deploy/crds")]);
    await cp.kubectlOk(["apply", "-f", join(repoRoot, "deploy/manifests/22-rbac-tenants.yaml")]);
    await cp.kubectlOk([
      "wait",
      "--for=condition=Established",
      "crd/ebpfmaps.observability.cloud",
      "crd/ebpfmapnodestatuses.observability.cloud",
      "crd/ebpftenancypolicies.observability.cloud",
      "--timeout=60s",
    ]);
    for (const ns of [OPERATOR_NS, ALICE, BOB]) await cp.kubectlOk(["create", "namespace", ns]);
    alice = await cp.userKubeconfig("alice", []);
    bob = await cp.userKubeconfig("bob", []);
    await cp.kubectlOk(["create", "rolebinding", "alice-ebpf", "-n", ALICE, "--clusterrole=ebpf-operator-edit", "--user=alice"]);
    await cp.kubectlOk(["create", "rolebinding", "bob-ebpf", "-n", BOB, "--clusterrole=ebpf-operator-edit", "--user=bob"]);
    for (const node of [
      { name: WORKER, labels: { "kubernetes.io/os": "linux" } },
      { name: CONTROL_PLANE, labels: { "kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": "" } },
    ]) {
      await cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: node }) });
    }
    // The admin grants bob node-wide tracing (tracepoints only), by policy.
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: policy(BOB_POLICY, {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": BOB } },
        programTypes: ["tracepoint"],
        targetScopes: ["pod", "node"],
      }),
    });
    operator = await startOperator({
      kubeConfig: (() => {
        const kc = new KubeConfig();
        kc.loadFromFile(cp.kubeconfig);
        return kc;
      })(),
      namespace: OPERATOR_NS,
      cacheDir,
      plugins: BUILTIN_PLUGINS,
      listen: "127.0.0.1:0",
      identity: `policy-test-${process.pid}`,
      logger: createLogger({ level: (process.env.EOP_TEST_LOG_LEVEL as "info" | undefined) ?? "silent" }),
      unloadTimeoutMs: 20_000,
    });
    await applyAs(bob, BOB, tracepointManifest({ name: "bobs-counter", metric: "bobs_execs" }));
    const bobs = await eventually("bob's resource compiled and admitted", async () => {
      const r = await getEbpfMap(cp, BOB, "bobs-counter");
      return condition(r, "Compiled")?.status === "True" && r?.status?.ready === "0/1" ? r : undefined;
    });
    expect(policyOf(bobs)).toMatchObject({ kind: "EbpfTenancyPolicy", name: BOB_POLICY, admitted: true });
    bobBefore = await bobsState();
  });

  afterAll(async () => {
    await operator?.stop();
    for (const ns of [ALICE, BOB, OPERATOR_NS]) await deleteNamespace(cp, ns).catch(() => undefined);
    await cp.kubectl([
      "delete",
      "ebpftenancypolicy",
      BOB_POLICY,
      ALICE_POLICY,
      "eop-policy-alice-quota",
      ALICE_HELPERS_POLICY,
      ALICE_POD_LABELS_POLICY,
      "--ignore-not-found",
    ]);
    await cp.kubectl(["delete", "node", WORKER, CONTROL_PLANE, "--ignore-not-found"]);
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it("alice can neither create, edit nor delete a tenancy policy (it is the cluster admin's)", async () => {
    const create = await as(alice, ["create", "-f", "-"], policy("alice-grants-herself", { namespaceSelector: {}, targetScopes: ["pod", "node"] }));
    expect(create.code).not.toBe(0);
    expect(create.stderr).toMatch(/ebpftenancypolicies.* is forbidden: User "alice" cannot create/);
    const patch = await as(alice, ["patch", "ebpftenancypolicy", BOB_POLICY, "--type=merge", "-p", '{"spec":{"priority":1000}}']);
    expect(patch.stderr).toMatch(/is forbidden: User "alice" cannot (get|patch)/);
    const del = await as(alice, ["delete", "ebpftenancypolicy", BOB_POLICY]);
    expect(del.stderr).toMatch(/is forbidden: User "alice" cannot delete/);
    expect(await cp.kubectlOk(["get", "ebpftenancypolicy", "-o", "name"])).toBe(`ebpftenancypolicy.observability.cloud/${BOB_POLICY}\n`);
  });

  it("refuses an XDP program on every host interface (xdp/*) under the default policy", async () => {
    await applyAs(alice, ALICE, fromExample("xdp-packets.yaml", "all-interfaces", { target: "xdp/*" }));
    const message = await refused(ALICE, "all-interfaces", "targetScopes", DEFAULT);
    expect(message).toContain('spec.target "xdp/*" of program type xdp is node-wide');
    expect(message).toContain("EbpfTenancyPolicy");
  });

  it("refuses cgroup programs on the root cgroup (skb egress, sock_create, connect4) under the default policy", async () => {
    for (const [name, target] of [
      ["root-egress", "cgroup/skb/egress:/"],
      ["root-sock-create", "cgroup/sock_create:/"],
      ["root-connect4", "cgroup/connect4:/"],
    ] as const) {
      await applyAs(alice, ALICE, fromExample("cgroup-egress.yaml", name, { target }));
    }
    for (const name of ["root-egress", "root-sock-create", "root-connect4"]) {
      expect(await refused(ALICE, name, "targetScopes", DEFAULT)).toMatch(/is node-wide/);
    }
  });

  it("refuses node-wide tracing (a tracepoint on every task) under the default policy, and says how an admin grants it", async () => {
    await applyAs(alice, ALICE, tracepointManifest({ name: "all-execs", metric: "alice_execs" }));
    const message = await refused(ALICE, "all-execs", "targetScopes", DEFAULT);
    expect(message).toContain("observability.cloud/allow-kernel-wide-programs=true");
  });

  it("a policy granting node-wide XDP admits it, names itself, and refuses the types it leaves out by rule", async () => {
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: policy(ALICE_POLICY, {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ALICE } },
        programTypes: ["xdp", "cgroup", "tracepoint"],
        targetScopes: ["pod", "node"],
        nodeScopeProgramTypes: ["xdp"],
      }),
    });
    const granted = { kind: "EbpfTenancyPolicy", name: ALICE_POLICY };
    // The policy's arrival re-decides alice's resources without an edit.
    const admitted = await eventually("all-interfaces admitted", async () => {
      const r = await getEbpfMap(cp, ALICE, "all-interfaces");
      return policyOf(r)?.admitted ? r : undefined;
    });
    expect(policyOf(admitted)).toMatchObject({ ...granted, admitted: true });
    expect(condition(admitted, "Admitted")).toMatchObject({ status: "True", reason: "Admitted" });
    await eventually("all-interfaces compiled", async () => condition(await getEbpfMap(cp, ALICE, "all-interfaces"), "Compiled")?.status === "True");

    expect(await refused(ALICE, "root-egress", "nodeScopeProgramTypes", granted)).toContain("node-wide targets only for xdp");
    expect(await refused(ALICE, "all-execs", "nodeScopeProgramTypes", granted)).toContain("program type tracepoint");

    await applyAs(alice, ALICE, fromExample("socket-bytes.yaml", "sockets"));
    expect(await refused(ALICE, "sockets", "programTypes", granted)).toContain('spec.type "socket" is not allowed (allowed: xdp, cgroup, tracepoint)');

    // Several programs per resource: every entry is decided, not only the first. The first is
    // the granted node-wide XDP; the second, a type the policy leaves out, is named by its index.
    const pair = parseYaml(fromExample("syscall-errors.yaml", "hidden-second")) as Manifest;
    const programs = pair.spec.programs as { program: string; type: string; target: string }[];
    programs[0] = { ...programs[0]!, type: "xdp", target: "xdp/lo" };
    await applyAs(alice, ALICE, stringifyYaml(pair));
    expect(await refused(ALICE, "hidden-second", "programTypes", granted)).toContain(
      'spec.programs[1].type "raw_tp" is not allowed (allowed: xdp, cgroup, tracepoint)',
    );
    // Out of the way of the EbpfMaps quota counted below.
    await as(alice, ["delete", "ebpfmap", "hidden-second", "-n", ALICE, "--wait=true", "--timeout=60s"]);
  });

  it("keeps a resource off control-plane nodes even when its nodeSelector aims there", async () => {
    const manifest = parseYaml(fromExample("xdp-packets.yaml", "on-control-plane", { target: "xdp/lo" })) as Manifest;
    manifest.spec.nodeSelector = { "node-role.kubernetes.io/control-plane": "" };
    await applyAs(alice, ALICE, stringifyYaml(manifest));
    const r = await eventually("NodesNotAllowed", async () => {
      const got = await getEbpfMap(cp, ALICE, "on-control-plane");
      return condition(got, "Ready")?.reason === "NodesNotAllowed" ? got : undefined;
    });
    expect(condition(r, "Ready")!.message).toContain(`rule nodes.controlPlane: node "${CONTROL_PLANE}" is a control-plane node`);
    expect(r.status?.ready).toBe("0/0");
    // Without the selector it counts the worker only.
    const all = await eventually("all-interfaces counted on the worker only", async () => {
      const got = await getEbpfMap(cp, ALICE, "all-interfaces");
      return got?.status?.ready === "0/1" ? got : undefined;
    });
    expect(all.status?.selectedNodes).toBe(1);
  });

  it("refuses spoofed scrape-target labels and foreign metric names at the API server, naming the field", async () => {
    const withLabel = (label: string) => {
      const m = parseYaml(fromExample("xdp-packets.yaml", `label-${label}`)) as Manifest;
      (m.spec.metrics as { labels: { name: string }[] }[])[0]!.labels[0]!.name = label;
      return stringifyYaml(m);
    };
    for (const label of ["job", "instance", "node", "namespace", "ebpfmap", "exported_job"]) {
      const result = await as(alice, ["apply", "-n", ALICE, "-f", "-"], withLabel(label));
      expect(result.code, label).not.toBe(0);
      expect(result.stderr).toContain("spec.metrics[0].labels[0].name");
      expect(result.stderr).toContain("reserved label name");
    }
    // `pod` and `container` are the agent's too: only their decoders (last in the chain, pod-scoped
    // resources) make them.
    for (const label of ["pod", "container"]) {
      const result = await as(alice, ["apply", "-n", ALICE, "-f", "-"], withLabel(label));
      expect(result.code, label).not.toBe(0);
      expect(result.stderr).toContain("spec.metrics[0].labels[0]");
      expect(result.stderr).toContain(`the label ${label} is the agent's`);
    }
    const withName = (name: string) => {
      const m = parseYaml(fromExample("xdp-packets.yaml", "foreign-name")) as Manifest;
      (m.spec.metrics as { name: string }[])[0]!.name = name;
      return stringifyYaml(m);
    };
    for (const name of [
      "node_network_receive_packets",
      "kube_pod_info",
      "container_cpu_usage_seconds",
      "process_cpu_seconds",
      "ebpf_operator_agent_attached",
    ]) {
      const result = await as(alice, ["apply", "-n", ALICE, "-f", "-"], withName(name));
      expect(result.code, name).not.toBe(0);
      expect(result.stderr).toContain("spec.metrics[0].name");
      expect(result.stderr).toMatch(/belong to other exporters or the agent/);
    }
    const colon = await as(alice, ["apply", "-n", ALICE, "-f", "-"], withName("job:requests:rate5m"));
    expect(colon.stderr).toContain("colons in metric names are reserved for recording rules");
    expect((await as(alice, ["get", "ebpfmap", "-n", ALICE, "-o", "name"])).stdout).not.toMatch(/label-|foreign-name/);
  });

  it("enforces the code-size and EbpfMaps-per-namespace quotas with a condition naming the quota", async () => {
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: policy("eop-policy-alice-quota", {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ALICE } },
        priority: 10,
        targetScopes: ["pod", "node"],
        nodeScopeProgramTypes: ["xdp"],
        quotas: { ebpfMaps: 9, codeBytes: 4096 },
      }),
    });
    const quota = { kind: "EbpfTenancyPolicy", name: "eop-policy-alice-quota" };
    // The higher priority governs now: all-interfaces is re-decided under it.
    await eventually("all-interfaces under the quota policy", async () => policyOf(await getEbpfMap(cp, ALICE, "all-interfaces"))?.name === quota.name);

    const big = fromExample("xdp-packets.yaml", "big-code", {
      code: `${"// padding\n".repeat(500)}${(parseYaml(example("xdp-packets.yaml")) as Manifest).spec.code as string}`,
    });
    await applyAs(alice, ALICE, big);
    expect(await refused(ALICE, "big-code", "quotas.codeBytes", quota)).toMatch(/spec.code is \d+ bytes; the quota is 4096/);

    // alice has 8 EbpfMaps now (the refused ones count: they exist); the 9th fits, the 10th not.
    const count = JSON.parse(await cp.kubectlOk(["get", "ebpfmaps", "-n", ALICE, "-o", "json"])) as { items: unknown[] };
    expect(count.items).toHaveLength(8);
    await applyAs(alice, ALICE, fromExample("xdp-packets.yaml", "ninth", { target: "xdp/lo" }));
    await new Promise((r) => setTimeout(r, 1100)); // creation timestamps have second resolution
    await applyAs(alice, ALICE, fromExample("xdp-packets.yaml", "tenth", { target: "xdp/lo" }));
    const ninth = await decided(ALICE, "ninth");
    expect(policyOf(ninth)).toMatchObject({ ...quota, admitted: true });
    expect(await refused(ALICE, "tenth", "quotas.ebpfMaps", quota)).toContain(`namespace "${ALICE}" may have 9 EbpfMaps, and 9 older ones take the quota`);
    // Deleting one makes room: the tenth is admitted without an edit.
    await as(alice, ["delete", "ebpfmap", "big-code", "-n", ALICE, "--wait=true", "--timeout=60s"]);
    await eventually("tenth admitted once there is room", async () => policyOf(await getEbpfMap(cp, ALICE, "tenth"))?.admitted === true);
  });

  it("revokes at once: deleting the policies takes alice back to the default, and her admitted XDP is refused", async () => {
    await cp.kubectlOk(["delete", "ebpftenancypolicy", ALICE_POLICY, "eop-policy-alice-quota"]);
    await eventually("all-interfaces refused after the revocation", async () => {
      const r = await getEbpfMap(cp, ALICE, "all-interfaces");
      return policyOf(r)?.kind === "Default" && condition(r, "Ready")?.reason === "PolicyRefused";
    });
  });

  it("refuses a program calling a helper the policy does not grant, naming the helper and the line, and admits it once the policy grants it", async () => {
    const helpers = (names: string[]) =>
      cp.kubectlOk(["apply", "-f", "-"], {
        input: policy(ALICE_HELPERS_POLICY, {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ALICE } },
          targetScopes: ["pod", "node"],
          nodeScopeProgramTypes: ["xdp"],
          helpers: { names },
          quotas: { ebpfMaps: 20 },
        }),
      });
    await helpers([]);
    const code = (parseYaml(example("xdp-packets.yaml")) as Manifest).spec.code as string;
    const entry = "int count_packets(struct xdp_md *ctx) {\n";
    expect(code).toContain(entry);
    // bpf_printk is bpf_trace_printk: the node's shared trace buffer, granted only by name.
    await applyAs(
      alice,
      ALICE,
      fromExample("xdp-packets.yaml", "printk", { target: "xdp/lo", code: code.replace(entry, `${entry}  bpf_printk("packet");\n`) }),
    );
    const granted = { kind: "EbpfTenancyPolicy", name: ALICE_HELPERS_POLICY };
    const message = await refused(ALICE, "printk", "helpers", granted);
    expect(message).toMatch(/program "count_packets" calls bpf_trace_printk \(helper #6\) at program\.bpf\.c:\d+/);
    // Alice reads why in her own resource, with her own kubectl.
    const seen = await as(alice, ["get", "ebpfmap", "printk", "-n", ALICE, "-o", "jsonpath={.status.conditions[?(@.type=='Admitted')].message}"]);
    expect(seen.code).toBe(0);
    expect(seen.stdout).toContain("bpf_trace_printk");
    // The admin grants it by name: admitted, compiled and published without an edit.
    await helpers(["bpf_trace_printk"]);
    const admitted = await eventually("printk admitted and published", async () => {
      const r = await getEbpfMap(cp, ALICE, "printk");
      return policyOf(r)?.admitted && r?.status?.object ? r : undefined;
    });
    expect(policyOf(admitted)).toMatchObject({ ...granted, admitted: true });
    expect(condition(admitted, "Admitted")).toMatchObject({ status: "True", reason: "Admitted" });
    expect(condition(admitted, "Compiled")).toMatchObject({ status: "True" });
    expect(admitted.status?.ready).toBe("0/1");
    // Taken away again: refused at once, at the same generation (the published object is checked again).
    await helpers([]);
    await eventually("printk refused again", async () => {
      const r = await getEbpfMap(cp, ALICE, "printk");
      return policyOf(r)?.admitted === false && r?.status?.object === undefined ? r : undefined;
    });
    expect(await refused(ALICE, "printk", "helpers", granted)).toContain("bpf_trace_printk");
  });

  it("refuses cgroup_pod labels without crossNamespacePodLabels, naming the policy rule and the label's decoder field, and admits them once granted", async () => {
    const podLabels = (grant: boolean) =>
      cp.kubectlOk(["apply", "-f", "-"], {
        input: policy(ALICE_POD_LABELS_POLICY, {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ALICE } },
          priority: 100,
          targetScopes: ["pod", "node"],
          nodeScopeProgramTypes: ["tracepoint"],
          crossNamespacePodLabels: grant,
          quotas: { ebpfMaps: 50 },
        }),
      });
    // Node-wide tracing granted, the other namespaces' pod names not.
    await podLabels(false);
    const granted = { kind: "EbpfTenancyPolicy", name: ALICE_POD_LABELS_POLICY };
    await applyAs(alice, ALICE, fromExample("node-pod-execs.yaml", "pod-execs"));
    const message = await refused(ALICE, "pod-execs", "crossNamespacePodLabels", granted);
    expect(message).toContain('spec.metrics[0].labels[0].decoders[1] "cgroup_namespace" names the pods of every namespace on the node');
    // Granted: admitted and compiled without an edit.
    await podLabels(true);
    const admitted = await eventually("pod-execs admitted and published", async () => {
      const r = await getEbpfMap(cp, ALICE, "pod-execs");
      return policyOf(r)?.admitted && r?.status?.object ? r : undefined;
    });
    expect(policyOf(admitted)).toMatchObject({ ...granted, admitted: true });
    await as(alice, ["delete", "ebpfmap", "pod-execs", "-n", ALICE, "--wait=true", "--timeout=60s"]);
    await cp.kubectlOk(["delete", "ebpftenancypolicy", ALICE_POD_LABELS_POLICY]);
  });

  it("leaves bob's resource exactly as it was through all of alice's attempts", async () => {
    expect(await bobsState()).toBe(bobBefore);
    const bobs = await getEbpfMap(cp, BOB, "bobs-counter");
    expect(policyOf(bobs)).toMatchObject({ kind: "EbpfTenancyPolicy", name: BOB_POLICY, admitted: true });
    // And bob's own attempt outside his grant is refused on his resource only.
    await applyAs(bob, BOB, fromExample("xdp-packets.yaml", "bobs-xdp"));
    await refused(BOB, "bobs-xdp", "programTypes", { kind: "EbpfTenancyPolicy", name: BOB_POLICY });
    expect(await bobsState()).toBe(bobBefore);
  });
});
