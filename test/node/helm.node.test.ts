/**
 * The Helm chart (deploy/helm/ebpf-operator) on a real node, with the images built here:
 * `helm install`, a program running through it, `helm upgrade` (the pods roll, the program
 * stays: same id, attached once, counter going on), then the documented uninstall (EbpfMaps
 * first, then `helm uninstall`): no pins, no link, no program, no pod left behind.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/kube/control-plane.js";
import { PIN_ROOT, eventually, linksOf, pinsUnder, programExists } from "../helpers/node/bpf.js";
import { attachNodeCluster } from "../helpers/node/cluster.js";
import { sampleValue } from "../helpers/metrics.js";
import { agentReader, type AgentReader } from "../helpers/node/agent-metrics.js";

const cluster = attachNodeCluster();
const NS = "eop-helm";
const RELEASE = "eop";
const chart = join(repoRoot, "deploy/helm/ebpf-operator");
const never = ["--set", "operator.image.pullPolicy=Never", "--set", "agent.image.pullPolicy=Never"];

/** The agent's /metrics over HTTPS with a metrics-reader token (the chart's own ClusterRole). */
let readerMade: Promise<AgentReader> | undefined;
const count = async () =>
  sampleValue(await (await (readerMade ??= agentReader(cluster, NS, `${RELEASE}-ebpf-operator`))).read(), "execve_counter_total", {
    namespace: "default",
    ebpfmap: "execve-tracepoint",
  });
const programOf = async () => {
  const r = await cluster.kubectl([
    "get",
    "ebpfmapnodestatus",
    `execve-tracepoint.${cluster.nodeName}`,
    "-n",
    "default",
    "-o",
    "jsonpath={.status.program.id}",
  ]);
  return r.code === 0 && r.stdout.trim() ? Number(r.stdout.trim()) : undefined;
};
const pins = () => pinsUnder(cluster.nodePath(PIN_ROOT));

describe("the Helm chart on a real node", () => {
  let programId = 0;

  afterAll(async () => {
    await (await readerMade?.catch(() => undefined))?.remove();
    await cluster.kubectl(["delete", "-f", join(repoRoot, "examples/execve-tracepoint.yaml"), "--ignore-not-found", "--timeout=60s"], { timeoutMs: 70_000 });
    await cluster.helm(["uninstall", RELEASE, "-n", NS, "--wait", "--timeout", "2m"]);
    await cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--timeout=120s"], { timeoutMs: 130_000 });
    // Helm never deletes CRDs; the other node tests install their own.
    await cluster.kubectl(["delete", "-f", join(chart, "crds"), "--ignore-not-found", "--timeout=60s"], { timeoutMs: 70_000 });
    await cluster.kubectl(["label", "namespace", "default", "observability.cloud/allow-kernel-wide-programs-"]);
  });

  it("helm install: the operator and the agent become Ready and run an EbpfMap", async () => {
    const out = await cluster.helm(["install", RELEASE, chart, "-n", NS, "--create-namespace", ...never, "--wait", "--timeout", "5m"], { timeoutMs: 320_000 });
    expect(out.code, out.stderr).toBe(0);
    await cluster.kubectlOk(["label", "namespace", NS, "pod-security.kubernetes.io/enforce=privileged", "--overwrite"]);
    await cluster.kubectlOk(["label", "namespace", "default", "observability.cloud/allow-kernel-wide-programs=true", "--overwrite"]);
    await cluster.kubectlOk(["apply", "-f", join(repoRoot, "examples/execve-tracepoint.yaml")]);
    await eventually("READY 1/1", async () =>
      /1\/1\s+AllNodesReady/.test(await cluster.kubectlOk(["get", "ebpfmap", "execve-tracepoint"])) ? true : undefined,
    );
    programId = (await eventually("the program id", programOf))!;
    expect(linksOf(programId)).toBe(1);
    expect(await eventually("the metric through the release's agent Service", count)).toBeGreaterThanOrEqual(0);
  });

  it("helm upgrade rolls the pods; the program stays (same id, attached once) and keeps counting", async () => {
    const before = (await count())!;
    const agentBefore = await cluster.kubectlOk([
      "get",
      "pods",
      "-n",
      NS,
      "-l",
      "app.kubernetes.io/component=agent",
      "-o",
      "jsonpath={.items[*].metadata.uid}",
    ]);
    const out = await cluster.helm(
      ["upgrade", RELEASE, chart, "-n", NS, ...never, "--set", "agent.logLevel=debug", "--set", "operator.logLevel=debug", "--wait", "--timeout", "5m"],
      { timeoutMs: 320_000 },
    );
    expect(out.code, out.stderr).toBe(0);
    await cluster.kubectlOk(["rollout", "status", "-n", NS, `daemonset/${RELEASE}-ebpf-operator-agent`, "--timeout=180s"], { timeoutMs: 190_000 });
    const agentAfter = await cluster.kubectlOk(["get", "pods", "-n", NS, "-l", "app.kubernetes.io/component=agent", "-o", "jsonpath={.items[*].metadata.uid}"]);
    expect(agentAfter).not.toBe(agentBefore);
    for (let i = 0; i < 5; i++) await cluster.exec(["/bin/true"]);
    expect(
      await eventually("counting on after the upgrade", async () => {
        const v = await count();
        return v !== undefined && v >= before + 5 ? v : undefined;
      }),
    ).toBeGreaterThanOrEqual(before + 5);
    expect(await programOf()).toBe(programId);
    expect(linksOf(programId)).toBe(1);
  });

  it("the documented uninstall (EbpfMaps first, then helm uninstall) leaves no pins, links, programs or pods", async () => {
    await cluster.kubectlOk(["delete", "-f", join(repoRoot, "examples/execve-tracepoint.yaml"), "--timeout=120s"], { timeoutMs: 130_000 });
    const out = await cluster.helm(["uninstall", RELEASE, "-n", NS, "--wait", "--timeout", "3m"], { timeoutMs: 200_000 });
    expect(out.code, out.stderr).toBe(0);
    await eventually("the release's pods to go", async () =>
      (await cluster.kubectlOk(["get", "pods", "-n", NS, "-o", "name"])).trim() === "" ? true : undefined,
    );
    expect(pins()).toEqual([]);
    await eventually("the program to go", async () => (!programExists(programId) ? true : undefined), 60_000);
    expect(linksOf(programId)).toBe(0);
  });
});
