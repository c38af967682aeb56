/**
 * The agent through an API-server outage: while the API server is down the program keeps
 * counting and `/metrics` keeps being served; when it is back, the agent's watches resume and it
 * picks up an edit. A control plane of its own, since this test stops it.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_PLUGINS, createLogger } from "@ebpf-operator/core";
import { startClusterAgent, startOperator, type RunningClusterAgent, type RunningOperator } from "@ebpf-operator/operator";
import { startControlPlane, type ControlPlane } from "../helpers/kube/control-plane.js";
import { metricsReaderToken } from "../helpers/kube/metrics-reader.js";
import { eventually } from "../helpers/kube/resources.js";
import { secureGet } from "../helpers/secure-fetch.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { COUNTER_CODE, tracepointManifest } from "../helpers/manifests.js";
import { runTimes, sampleValue } from "../helpers/metrics.js";

requireKernelCapabilities();

const NODE = "eop-outage-node";
const SYSTEM = "eop-outage-system";
const APP = "eop-outage";

describe("cluster agent during an API-server outage", () => {
  let cp: ControlPlane;
  let operator: RunningOperator;
  let agent: RunningClusterAgent;
  let work: string;
  const pinRoot = `/sys/fs/bpf/eop-test-outage-${process.pid}`;
  const repo = new URL("../../", import.meta.url).pathname;
  const logger = createLogger({ level: "silent" });

  const programId = async () => {
    const out = await cp.kubectl(["get", "ebpfmapnodestatus", `counter.${NODE}`, "-n", APP, "-o", "jsonpath={.status.program.id}"]);
    return out.code === 0 && out.stdout ? Number(out.stdout) : undefined;
  };
  let token = "";
  const scrape = () => secureGet(`${agent.url}/metrics`, { token });
  const counter = async () => sampleValue((await scrape()).body, "outage_execs_total", { namespace: APP, ebpfmap: "counter" });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "eop-outage-"));
    cp = await startControlPlane();
    await cp.kubectlOk(["apply", "-f", join(repo, "deploy/crds")]);
    await cp.kubectlOk(["wait", "--for", "condition=established", "crd/ebpfmaps.observability.cloud", "--timeout=60s"]);
    for (const ns of [SYSTEM, APP]) await cp.kubectlOk(["create", "namespace", ns]);
    await cp.kubectlOk(["label", "namespace", APP, "observability.cloud/allow-kernel-wide-programs=true"]);
    await cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: NODE } }) });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cp.kubeconfig);
    operator = await startOperator({
      kubeConfig,
      namespace: SYSTEM,
      cacheDir: join(work, "op"),
      plugins: BUILTIN_PLUGINS,
      listen: "127.0.0.1:0",
      logger,
      leaderElection: false,
    });
    token = (await metricsReaderToken(cp, SYSTEM, "outage-reader")).token;
    agent = await startClusterAgent({
      kubeConfig,
      nodeName: NODE,
      objectNamespace: SYSTEM,
      pinRoot,
      cacheDir: join(work, "agent"),
      plugins: BUILTIN_PLUGINS,
      listen: "127.0.0.1:0",
      logger,
    });
  });

  afterAll(async () => {
    await agent?.stop();
    await operator?.stop();
    await cp?.stop();
    rmSync(pinRoot, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it("keeps counting and serving /metrics while the API server is down, and resumes after", async () => {
    await cp.kubectlOk(["apply", "-n", APP, "-f", "-"], { input: tracepointManifest({ name: "counter", metric: "outage-execs" }) });
    const first = await eventually("the program running", programId);
    const before = (await counter()) ?? 0;

    const restart = cp.restartApiServer(6_000);
    await new Promise((r) => setTimeout(r, 1_500)); // the API server is down now
    const down = await cp.request("GET", "/readyz").then(
      (r) => r.status,
      () => "unreachable",
    );
    expect(down).toBe("unreachable");
    runTimes("/bin/true", 10);
    // Served while the API server is away: the reader's token and right were reviewed by the
    // scrape above and are cached (a scraper the agent has not seen before would get a 503).
    const during = await scrape();
    expect(during.status).toBe(200);
    expect(sampleValue(during.body, "outage_execs_total", { namespace: APP, ebpfmap: "counter" })! - before).toBeGreaterThanOrEqual(10);
    await restart;

    // The watches came back: an edit made after the outage reaches the node.
    await cp.kubectlOk(["apply", "-n", APP, "-f", "-"], {
      input: tracepointManifest({ name: "counter", metric: "outage-execs", code: `${COUNTER_CODE}\n// after the outage\n` }),
    });
    const second = await eventually(
      "the edited program",
      async () => {
        const id = await programId();
        return id !== undefined && id !== first ? id : undefined;
      },
      90_000,
    );
    expect(second).not.toBe(first);
    expect(existsSync(join(pinRoot, APP, "counter"))).toBe(true);
  });
});
