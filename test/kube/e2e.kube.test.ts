/**
 * End to end on one machine: a real kube-apiserver + etcd, the operator and the agent as real
 * processes (the agent's node name is this machine's, with a Node object created for it), the
 * real kernel, and the real kubectl — as a platform team would run it.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClusterAgent } from "../helpers/kube/cluster-agent.js";
import { attachControlPlane, deleteNamespace } from "../helpers/kube/control-plane.js";
import { condition, eventually, getEbpfMap } from "../helpers/kube/resources.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { runTimes, sampleValue } from "../helpers/metrics.js";
import { metricsReaderToken } from "../helpers/kube/metrics-reader.js";
import { secureGet } from "../helpers/secure-fetch.js";
import { startLoggedProcess, type LoggedProcess } from "../helpers/node-process.js";

requireKernelCapabilities();

const cp = attachControlPlane();
const repo = new URL("../../", import.meta.url).pathname;
const cli = join(repo, "packages/operator/dist/cli.js");
const SYSTEM = "eop-e2e-system";
const APP = "eop-e2e";
const NODE = hostname();
const pinRoot = `/sys/fs/bpf/eop-test-e2e-${process.pid}`;

interface NodeStatus {
  status: { phase: string; observedGeneration: number; program?: { id: number; adopted: boolean } };
}

function programLinks(id: number): number {
  const links = JSON.parse(execFileSync("bpftool", ["link", "list", "-j"], { encoding: "utf8" })) as { prog_id: number }[];
  return links.filter((l) => l.prog_id === id).length;
}

function programExists(id: number): boolean {
  return (JSON.parse(execFileSync("bpftool", ["prog", "list", "-j"], { encoding: "utf8" })) as { id: number }[]).some((p) => p.id === id);
}

describe("operator + agent + kubectl on one machine", () => {
  let workDir: string;
  let operator: LoggedProcess | undefined;
  let agent: LoggedProcess | undefined;

  const startOperatorProcess = () =>
    startLoggedProcess(
      [cli, "run", "--kubeconfig", cp.kubeconfig, "--namespace", SYSTEM, "--listen", "127.0.0.1:0", "--cache-dir", join(workDir, "operator-cache")],
      "operator listening",
    );
  const startAgentProcess = () => startClusterAgent({ cli, node: NODE, kubeconfig: cp.kubeconfig, namespace: SYSTEM, pinRoot, workDir });
  const nodeStatus = async (name: string) => {
    const result = await cp.kubectl(["get", "ebpfmapnodestatus", `${name}.${NODE}`, "-n", APP, "-o", "json"]);
    return result.code === 0 ? (JSON.parse(result.stdout) as NodeStatus) : undefined;
  };
  let token = "";
  const metrics = async () => (await secureGet(`${agent!.url}/metrics`, { token })).body;
  const KERNEL_WIDE = "observability.cloud/allow-kernel-wide-programs";

  /**
   * The state every test starts from, whatever the previous test left behind: the namespace may
   * run kernel-wide programs, the node carries no test label, the unedited example is applied, the
   * operator reports 1/1 for its current generation and the node runs it. Returns the node's
   * program id.
   */
  async function runningExample(): Promise<number> {
    await cp.kubectlOk(["label", "namespace", APP, `${KERNEL_WIDE}=true`, "--overwrite"]);
    await cp.kubectlOk(["label", "node", NODE, "eop-e2e/role-"]);
    await cp.kubectlOk(["apply", "-n", APP, "-f", join(repo, "examples/execve-tracepoint.yaml")]);
    const ready = await eventually("execve-tracepoint 1/1 for its current generation", async () => {
      const resource = await getEbpfMap(cp, APP, "execve-tracepoint");
      const ready = condition(resource, "Ready");
      return resource && ready?.status === "True" && ready.observedGeneration === resource.metadata.generation && resource.status?.ready === "1/1"
        ? resource
        : undefined;
    });
    const running = await eventually("the node running the current generation", async () => {
      const status = await nodeStatus("execve-tracepoint");
      return status?.status.phase === "Running" && status.status.observedGeneration === ready.metadata.generation ? status : undefined;
    });
    return running.status.program!.id;
  }

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), "eop-e2e-"));
    await cp.kubectlOk(["apply", "-f", join(repo, "deploy/crds")]);
    await cp.kubectlOk(["wait", "--for", "condition=established", "crd/ebpfmaps.observability.cloud", "--timeout=60s"]);
    await cp.kubectlOk(["create", "namespace", SYSTEM]);
    await cp.kubectlOk(["create", "namespace", APP]);
    await cp.kubectlOk(["label", "namespace", APP, "observability.cloud/allow-kernel-wide-programs=true"]);
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: NODE, labels: { "kubernetes.io/hostname": NODE } } }),
    });
    token = (await metricsReaderToken(cp, SYSTEM, `e2e-reader-${process.pid}`)).token;
    operator = await startOperatorProcess();
    agent = await startAgentProcess();
  });

  afterAll(async () => {
    if (process.env.EOP_TEST_DEBUG) {
      for (const [who, p] of [
        ["operator", operator],
        ["agent", agent],
      ] as const) {
        console.error(who, JSON.stringify(p?.logs.filter((l) => l.level !== "debug").slice(-30), null, 1));
      }
    }
    await agent?.stop("SIGKILL");
    await operator?.stop();
    await deleteNamespace(cp, APP).catch(() => undefined);
    await deleteNamespace(cp, SYSTEM).catch(() => undefined);
    await cp.kubectl(["delete", "node", NODE, "--ignore-not-found"]);
    await cp.kubectl(["delete", "clusterrolebinding,clusterrole", `e2e-reader-${process.pid}`, "--ignore-not-found"]);
    rmSync(pinRoot, { recursive: true, force: true });
    rmSync(workDir, { recursive: true, force: true });
  });

  it("runs the tracepoint example on 1/1 nodes and serves its metric with the namespace label", async () => {
    await runningExample();
    const table = await cp.kubectlOk(["get", "ebpfmap", "-n", APP]);
    expect(table).toMatch(/execve-tracepoint\s+tracepoint\s+syscalls\/sys_enter_execve\s+1\/1\s+AllNodesReady/);
    const labels = { namespace: APP, ebpfmap: "execve-tracepoint" };
    const before = sampleValue(await metrics(), "execve_counter_total", labels) ?? 0;
    runTimes("/bin/true", 20);
    const text = await metrics();
    expect(sampleValue(text, "execve_counter_total", labels)! - before).toBeGreaterThanOrEqual(20);
    expect(existsSync(join(pinRoot, APP, "execve-tracepoint"))).toBe(true);
    // The same self-observability as standalone: per-program kernel stats and map fill.
    expect(sampleValue(text, "ebpf_operator_program_run_count_total", labels)).toBeGreaterThanOrEqual(20);
    expect(sampleValue(text, "ebpf_operator_map_max_entries", { ...labels, map: "execve_count" })).toBe(1);
    expect(text).toMatch(/^ebpf_operator_agent_plugins\{plugin="@ebpf-operator\/plugin-tracepoint",version="0\.1\.0",loaded="true"\} 1$/m);
  });

  it("replaces the program when the code is edited", async () => {
    const old = await runningExample();
    const manifest = readFileSync(join(repo, "examples/execve-tracepoint.yaml"), "utf8").replace("char LICENSE", "// edited\n    char LICENSE");
    await cp.kubectlOk(["apply", "-n", APP, "-f", "-"], { input: manifest });
    const replaced = await eventually("the new program", async () => {
      const status = await nodeStatus("execve-tracepoint");
      const resource = await getEbpfMap(cp, APP, "execve-tracepoint");
      return status?.status.program && status.status.program.id !== old && resource?.status?.ready === "1/1" ? status : undefined;
    });
    expect(programLinks(replaced.status.program!.id)).toBe(1);
    await eventually("the old program freed", async () => !programExists(old), 10_000);
  });

  it("shows a compile error in kubectl describe and keeps the node running the last good program", async () => {
    const running = await runningExample();
    const broken = readFileSync(join(repo, "examples/execve-tracepoint.yaml"), "utf8").replace("u32 key = 0;", "u32 key = ;");
    await cp.kubectlOk(["apply", "-n", APP, "-f", "-"], { input: broken });
    const describe = await eventually("CompileFailed in describe", async () => {
      const out = await cp.kubectlOk(["describe", "ebpfmap", "execve-tracepoint", "-n", APP]);
      return /Warning\s+CompileFailed/.test(out) ? out : undefined;
    });
    expect(describe).toMatch(/error: expected expression/);
    expect((await nodeStatus("execve-tracepoint"))!.status.program!.id).toBe(running);
    expect(programLinks(running)).toBe(1);
    // Undoing the broken edit is a new generation with the spec the node already runs: the node
    // reports it under that generation (same program), and the resource is 1/1 again.
    expect(await runningExample()).toBe(running);
  });

  it("loses nothing when the operator and the agent restart: same program, counter kept, attached once", async () => {
    const labels = { namespace: APP, ebpfmap: "execve-tracepoint" };
    const program = await runningExample();
    const before = sampleValue(await metrics(), "execve_counter_total", labels)!;
    await agent!.stop("SIGKILL");
    await operator!.stop("SIGTERM");
    runTimes("/bin/true", 5); // still counted: the program stays attached through its pins
    operator = await startOperatorProcess();
    agent = await startAgentProcess();
    const adopted = await eventually("the agent to adopt", async () => {
      const status = await nodeStatus("execve-tracepoint");
      return status?.status.program?.adopted ? status : undefined;
    });
    expect(adopted.status.program!.id).toBe(program);
    expect(programLinks(program)).toBe(1);
    expect(sampleValue(await metrics(), "execve_counter_total", labels)).toBeGreaterThanOrEqual(before + 5);
    await eventually("still 1/1", async () => (await getEbpfMap(cp, APP, "execve-tracepoint"))?.status?.ready === "1/1");
  });

  it("the operator and the agent, sent SIGTERM as soon as they listen (still starting: informers, the first sync), stop cleanly rather than by the signal's default action", async () => {
    await runningExample();
    await agent!.stop("SIGKILL");
    await operator!.stop("SIGTERM");
    for (const start of [startOperatorProcess, startAgentProcess]) {
      const starting = await start();
      const exitCode = await starting.stop("SIGTERM");
      expect({ args: starting.child.spawnargs[2], exitCode, signal: starting.child.signalCode }).toEqual({
        args: starting.child.spawnargs[2],
        exitCode: 0,
        signal: null,
      });
    }
    operator = await startOperatorProcess();
    agent = await startAgentProcess();
    await runningExample();
  });

  it("unloads from a node the resource stops selecting, and loads again when it selects it", async () => {
    const program = await runningExample();
    const elsewhere = readFileSync(join(repo, "examples/execve-tracepoint.yaml"), "utf8").replace(
      "spec:\n",
      "spec:\n  nodeSelector:\n    eop-e2e/role: elsewhere\n",
    );
    await cp.kubectlOk(["apply", "-n", APP, "-f", "-"], { input: elsewhere });
    await eventually("the node status gone", async () => (await nodeStatus("execve-tracepoint")) === undefined);
    await eventually("the program freed", async () => !programExists(program), 10_000);
    expect(existsSync(join(pinRoot, APP, "execve-tracepoint"))).toBe(false);
    // The operator writes the new summary after the agent let go: wait for it, don't race it.
    await eventually(
      "Ready reason NoNodesSelected",
      async () => condition(await getEbpfMap(cp, APP, "execve-tracepoint"), "Ready")?.reason === "NoNodesSelected",
    );
    await cp.kubectlOk(["label", "node", NODE, "eop-e2e/role=elsewhere"]);
    await eventually("loaded again", async () => (await nodeStatus("execve-tracepoint"))?.status.phase === "Running");
    await eventually("1/1 again", async () => (await getEbpfMap(cp, APP, "execve-tracepoint"))?.status?.ready === "1/1");
  });

  it("unloads when the namespace loses its permission for kernel-wide programs, and loads when it is given back", async () => {
    const program = await runningExample();
    await cp.kubectlOk(["label", "namespace", APP, `${KERNEL_WIDE}-`]);
    await eventually("refused", async () => condition(await getEbpfMap(cp, APP, "execve-tracepoint"), "Ready")?.reason === "PolicyRefused");
    await eventually("the node status gone", async () => (await nodeStatus("execve-tracepoint")) === undefined);
    await eventually("the program freed", async () => !programExists(program), 10_000);
    expect(existsSync(join(pinRoot, APP, "execve-tracepoint"))).toBe(false);
    await cp.kubectlOk(["label", "namespace", APP, `${KERNEL_WIDE}=true`]);
    await eventually("1/1 again", async () => (await getEbpfMap(cp, APP, "execve-tracepoint"))?.status?.ready === "1/1");
  });

  it("caps the resource's series at scrape time by its namespace's policy: over the cap, only the overflow series", async () => {
    await runningExample();
    const labels = { namespace: APP, ebpfmap: "execve-tracepoint" };
    const policy = `eop-e2e-series-${process.pid}`;
    // A policy for the namespace (it takes over from the label) that allows no series at all.
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "observability.cloud/v1",
        kind: "EbpfTenancyPolicy",
        metadata: { name: policy },
        spec: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": APP } }, targetScopes: ["pod", "node"], quotas: { seriesPerEbpfMap: 0 } },
      }),
    });
    try {
      const capped = await eventually("only the overflow series", async () => {
        const text = await metrics();
        return sampleValue(text, "execve_counter_total", { ...labels, overflow: "true" }) !== undefined ? text : undefined;
      });
      const series = capped.split("\n").filter((l) => l.startsWith(`execve_counter_total{namespace="${APP}"`));
      expect(series).toHaveLength(1);
      // Counted as the read is rendered, after the agent's own families of that scrape: the next one shows it.
      expect(sampleValue(await metrics(), "ebpf_operator_agent_series_dropped_total", labels)).toBeGreaterThanOrEqual(1);
      // Still admitted and running: the cap limits what is served, not what runs.
      const resource = await getEbpfMap(cp, APP, "execve-tracepoint");
      expect((resource?.status as { policy?: { name: string; admitted: boolean } }).policy).toMatchObject({ name: policy, admitted: true });
    } finally {
      await cp.kubectlOk(["delete", "ebpftenancypolicy", policy, "--ignore-not-found"]);
    }
    await eventually("the plain series back", async () => {
      const text = await metrics();
      return (
        sampleValue(text, "execve_counter_total", { ...labels, overflow: "true" }) === undefined &&
        sampleValue(text, "execve_counter_total", labels) !== undefined
      );
    });
  });

  it("detaches and unpins on delete, and the finalizer lets go once the node confirms", async () => {
    const program = await runningExample();
    await cp.kubectlOk(["delete", "ebpfmap", "execve-tracepoint", "-n", APP, "--timeout=60s"]);
    expect(await getEbpfMap(cp, APP, "execve-tracepoint")).toBeUndefined();
    expect(await nodeStatus("execve-tracepoint")).toBeUndefined();
    expect(existsSync(join(pinRoot, APP))).toBe(false);
    await eventually("the program freed", async () => !programExists(program), 10_000);
    expect(sampleValue(await metrics(), "execve_counter_total", { namespace: APP })).toBeUndefined();
  });
});
