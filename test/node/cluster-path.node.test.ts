/**
 * The cluster path as a user runs it, on a real node (test/helpers/node/cluster.ts): the images
 * built here run by a real kubelet and containerd, installed with `kubectl apply --server-side
 * -f deploy/operator.yaml` and the README's cluster steps (tracepoint variant: this kernel has no
 * kprobes). The metric is read through the agent's Service and by a real Prometheus scraping
 * the pod (inside the node); the agent pod is deleted (its replacement adopts the pins: the counter goes on, the
 * program is attached once) and the operator pod restarted (nothing lost); the tenant roles are
 * aggregated into admin/edit/view by the real controller-manager. Ends by deleting what it
 * applied; nothing of it is left in the node's bpffs.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/kube/control-plane.js";
import { PIN_ROOT, eventually, linksOf, pinsUnder, programExists } from "../helpers/node/bpf.js";
import { attachNodeCluster } from "../helpers/node/cluster.js";
import { sampleValue } from "../helpers/metrics.js";
import { agentReader, type AgentReader } from "../helpers/node/agent-metrics.js";

const cluster = attachNodeCluster();
const SYSTEM = "ebpf-operator-system";
/** Where the compiler container serves the operator (deploy/manifests/30-operator-deployment.yaml). */
const COMPILER_SOCKET = "/run/ebpf-compiler/compiler.sock";

/** One family of the compile server's GET /v1/metrics (prom-client's JSON). */
interface MetricJson {
  name: string;
  values: { labels: Record<string, string | number>; value: number; metricName?: string }[];
}

/** The value of a sample named `name` (a family's or a histogram's series) with these labels. */
function jsonSample(families: MetricJson[], name: string, labels: Record<string, string> = {}): number | undefined {
  for (const family of families)
    for (const value of family.values)
      if ((value.metricName ?? family.name) === name && Object.entries(labels).every(([k, v]) => String(value.labels[k]) === v)) return value.value;
  return undefined;
}

interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  status: { phase: string; podIP?: string; containerStatuses?: { ready: boolean; restartCount: number; imageID: string; image: string }[] };
}
interface NodeStatus {
  status: { phase: string; program?: { id: number; adopted: boolean } };
}

const pods = async (component: string): Promise<Pod[]> =>
  (
    JSON.parse(await cluster.kubectlOk(["get", "pods", "-n", SYSTEM, "-l", `app.kubernetes.io/component=${component}`, "-o", "json"])) as { items: Pod[] }
  ).items.filter((p) => !p.metadata.deletionTimestamp);

/**
 * The agent's /metrics as the cluster's Prometheus reads it: HTTPS verified against the install's
 * CA for the Service's name, with a token of the metrics-reader role (helpers/node/agent-metrics.ts).
 */
let readerMade: Promise<AgentReader> | undefined;
const reader = () => (readerMade ??= agentReader(cluster, SYSTEM, "ebpf-operator"));
const metricsThroughService = async () => (await reader()).read();

const execveCount = async (): Promise<number | undefined> =>
  sampleValue(await metricsThroughService(), "execve_counter_total", { namespace: "default", ebpfmap: "execve-tracepoint" });

/** execve(2) calls inside the node: the tracepoint sees them whatever the namespace. */
const execs = async (n: number) => {
  for (let i = 0; i < n; i++) await cluster.exec(["/bin/true"]);
};

const nodeStatus = async (): Promise<NodeStatus | undefined> => {
  const r = await cluster.kubectl(["get", "ebpfmapnodestatus", `execve-tracepoint.${cluster.nodeName}`, "-n", "default", "-o", "json"]);
  return r.code === 0 ? (JSON.parse(r.stdout) as NodeStatus) : undefined;
};

const pins = () => pinsUnder(cluster.nodePath(PIN_ROOT));

describe("deploy/operator.yaml on a real node", () => {
  let prometheus: ChildProcess | undefined;
  let promDir: string;
  let programId: number;

  beforeAll(async () => {
    promDir = await mkdtemp(join(tmpdir(), "eop-node-prom-"));
  });

  afterAll(async () => {
    prometheus?.kill("SIGTERM");
    await (await readerMade?.catch(() => undefined))?.remove();
    // Delete EbpfMaps while the agent runs, then the install (docs/deploy.md, "Uninstall").
    await cluster.kubectl(["delete", "-f", join(repoRoot, "examples/execve-tracepoint.yaml"), "--ignore-not-found", "--timeout=120s"], { timeoutMs: 130_000 });
    await cluster.kubectl(["delete", "-f", join(repoRoot, "deploy/operator.yaml"), "--ignore-not-found", "--timeout=180s"], { timeoutMs: 190_000 });
    await cluster.kubectl(["label", "namespace", "default", "observability.cloud/allow-kernel-wide-programs-"]);
    await rm(promDir, { recursive: true, force: true });
  });

  it("installs with kubectl apply --server-side; the operator Deployment and the agent DaemonSet become Ready from the local images", async () => {
    const out = await cluster.kubectlOk(["apply", "--server-side", "-f", join(repoRoot, "deploy/operator.yaml")], { timeoutMs: 120_000 });
    expect(out).toContain("daemonset.apps/ebpf-operator-agent serverside-applied");
    await cluster.kubectlOk(["rollout", "status", "-n", SYSTEM, "deployment/ebpf-operator", "--timeout=300s"], { timeoutMs: 310_000 });
    await cluster.kubectlOk(["rollout", "status", "-n", SYSTEM, "daemonset/ebpf-operator-agent", "--timeout=300s"], { timeoutMs: 310_000 });
    const operators = await pods("operator");
    const agents = await pods("agent");
    expect(operators).toHaveLength(2); // two replicas on the one node (the anti-affinity is preferred)
    expect(agents).toHaveLength(1);
    for (const pod of [...operators, ...agents]) {
      // Every container: the operator's pods run the controller and the compile server.
      expect(pod.status.containerStatuses, pod.metadata.name).toHaveLength(pod === agents[0] ? 1 : 2);
      for (const status of pod.status.containerStatuses!) {
        expect(status.ready, pod.metadata.name).toBe(true);
        expect(status.restartCount, `${pod.metadata.name} restarted`).toBe(0);
      }
    }
    // The very images built here (the imported manifest digests), never pulled.
    // (imageID: the repository digest, i.e. the manifest's, or the image ID, i.e. the config's.)
    for (const pod of [operators[0]!, agents[0]!]) {
      const status = pod.status.containerStatuses![0]!;
      const image = Object.values(cluster.images).find((i) => status.image.endsWith(i.ref))!;
      expect(image, status.image).toBeDefined();
      expect(
        [image.manifest, image.config].some((digest) => status.imageID.endsWith(digest)),
        `${status.imageID} is ${image.ref}`,
      ).toBe(true);
    }
    const events = await cluster.kubectlOk(["get", "events", "-n", SYSTEM, "-o", 'jsonpath={range .items[*]}{.reason}{"\\n"}{end}']);
    expect(events.split("\n")).not.toContain("Pulling");
  });

  it("runs the operator as the non-root user of its image and the agent with only its four capabilities", async () => {
    const operator = (await pods("operator"))[0]!.metadata.name;
    const agent = (await pods("agent"))[0]!.metadata.name;
    expect((await cluster.kubectlOk(["exec", "-n", SYSTEM, operator, "--", "node", "-e", "console.log(process.getuid(), process.version)"])).trim()).toBe(
      "65532 v22.20.0",
    );
    const status = await cluster.kubectlOk([
      "exec",
      "-n",
      SYSTEM,
      agent,
      "--",
      "node",
      "-e",
      "process.stdout.write(require('fs').readFileSync('/proc/self/status','utf8'))",
    ]);
    const capEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(status)![1]}`);
    // CAP_NET_ADMIN 12, CAP_NET_RAW 13, CAP_PERFMON 38, CAP_BPF 39.
    expect(capEff).toBe((1n << 12n) | (1n << 13n) | (1n << 38n) | (1n << 39n));
    expect(/^NoNewPrivs:\s+1$/m.test(status)).toBe(true);
    expect(/^Uid:\s+0\s/m.test(status)).toBe(true);
  });

  it("runs the README's cluster steps: label the namespace, apply the tracepoint example, READY 1/1, the metric through the agent's Service", async () => {
    await cluster.kubectlOk(["label", "namespace", "default", "observability.cloud/allow-kernel-wide-programs=true", "--overwrite"]);
    await cluster.kubectlOk(["apply", "-f", join(repoRoot, "examples/execve-tracepoint.yaml")]);
    const table = await eventually("kubectl get ebpfmap: READY 1/1", async () => {
      const out = await cluster.kubectlOk(["get", "ebpfmap"]);
      return /execve-tracepoint\s+tracepoint\s+syscalls\/sys_enter_execve\s+1\/1\s+AllNodesReady/.test(out) ? out : undefined;
    });
    expect(table).toMatch(/^NAME\s+TYPE\s+TARGET\s+READY\s+STATUS\s+AGE/);
    const before = await eventually("execve_counter_total through the Service", execveCount);
    await execs(20);
    const after = await eventually("the counter to grow by the 20 execs", async () => {
      const value = await execveCount();
      return value !== undefined && value >= before + 20 ? value : undefined;
    });
    expect(after).toBeGreaterThanOrEqual(before + 20);
    const status = await eventually("the node's status with a program", async () => ((await nodeStatus())?.status.program ? nodeStatus() : undefined));
    programId = status!.status.program!.id;
    expect(linksOf(programId)).toBe(1);
    expect(pins().some((p) => p.startsWith("/default/execve-tracepoint/"))).toBe(true);
  });

  it("compiled that program in the compiler container: clang in bubblewrap under the node's runc, no ServiceAccount token there", async () => {
    const operator = (await pods("operator"))[0]!.metadata.name;
    // The compile server refuses to start without its sandbox (--sandbox required is the default),
    // so a Ready compiler container already says bubblewrap works in it; its start-up line says how.
    const logs = await cluster.kubectlOk(["logs", "-n", SYSTEM, operator, "-c", "compiler"]);
    const listening = logs
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { msg: string; sandbox?: { mode: string; uid?: number } })
      .find((line) => line.msg === "compile server listening");
    // runc mounts /proc/sys read-only, so bwrap's --disable-userns cannot be had here: the
    // seccomp filter alone refuses new namespaces, and the status says so (docs/compiler.md).
    expect(listening?.sandbox, logs).toMatchObject({ mode: "bwrap", uid: 65532, nestedUserns: "seccomp-only" });
    // The compile metrics go to the operator over the socket (GET /v1/metrics, prom-client's
    // JSON); the TCP port answers probes only.
    const probe = `const fs = require("fs");
      const token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
      const overSocket = new Promise((resolve, reject) => require("http").get({ socketPath: ${JSON.stringify(COMPILER_SOCKET)}, path: "/v1/metrics" }, (r) => {
        let body = ""; r.on("data", (c) => (body += c)); r.on("end", () => resolve(body)); }).on("error", reject));
      Promise.all([overSocket, fetch("http://127.0.0.1:8081/metrics").then((r) => r.status)]).then(([metrics, tcpMetrics]) =>
        console.log(JSON.stringify({ uid: process.getuid(), token: fs.existsSync(token), mounts: fs.readFileSync("/proc/self/mounts", "utf8"), metrics: JSON.parse(metrics), tcpMetrics })));`;
    const seen = JSON.parse(await cluster.kubectlOk(["exec", "-n", SYSTEM, operator, "-c", "compiler", "--", "node", "-e", probe])) as {
      uid: number;
      token: boolean;
      mounts: string;
      metrics: MetricJson[];
      tcpMetrics: number;
    };
    expect(seen.uid).toBe(65532);
    expect(seen.token).toBe(false);
    expect(seen.mounts).not.toContain("serviceaccount");
    expect(seen.tcpMetrics).toBe(404);
    expect(jsonSample(seen.metrics, "ebpf_operator_compile_sandbox", { mode: "bwrap" })).toBe(1);
    // Either replica's compiler may have compiled it; the leader's did (the standby never compiles).
    const compiled = await Promise.all(
      (await pods("operator")).map(async (pod) => {
        const out = await cluster.kubectlOk([
          "exec",
          "-n",
          SYSTEM,
          pod.metadata.name,
          "-c",
          "compiler",
          "--",
          "node",
          "-e",
          `require("http").get({ socketPath: ${JSON.stringify(COMPILER_SOCKET)}, path: "/v1/metrics" }, (r) => r.pipe(process.stdout))`,
        ]);
        return jsonSample(JSON.parse(out) as MetricJson[], "ebpf_operator_compile_requests_total", { result: "compiled" }) ?? 0;
      }),
    );
    expect(compiled.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
    // The operator container does hold the token: the split is real.
    const operatorSide = await cluster.kubectlOk([
      "exec",
      "-n",
      SYSTEM,
      operator,
      "-c",
      "operator",
      "--",
      "node",
      "-e",
      `console.log(require("fs").existsSync("/var/run/secrets/kubernetes.io/serviceaccount/token"))`,
    ]);
    expect(operatorSide.trim()).toBe("true");
  });

  it("is scraped by a real Prometheus, inside the node, at the agent pod's address", async () => {
    // Debian's Prometheus is built without kubernetes_sd_configs: the pod's address comes from
    // the API server here (as the service discovery would get it), through a file_sd target.
    const agentPod = (await pods("agent"))[0]!;
    const target = `${agentPod.status.podIP}:9442`;
    await writeFile(join(promDir, "token"), (await reader()).token);
    await writeFile(join(promDir, "targets.json"), JSON.stringify([{ targets: [target], labels: { pod: agentPod.metadata.name } }]));
    await writeFile(
      join(promDir, "prometheus.yml"),
      `global:
  scrape_interval: 2s
  scrape_timeout: 2s
scrape_configs:
  - job_name: ebpf-agent
    honor_labels: true
    scheme: https
    authorization:
      credentials_file: ${join(promDir, "token")}
    tls_config:
      ca_file: ${(await reader()).caFile}
      server_name: ${(await reader()).serverName}
    file_sd_configs:
      - files: [${join(promDir, "targets.json")}]
        refresh_interval: 2s
`,
    );
    // Prometheus runs inside the node (where pod addresses route), as it would in a cluster.
    prometheus = cluster.spawnInside("prometheus", [
      "/usr/bin/prometheus",
      `--config.file=${join(promDir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(promDir, "data")}`,
      "--web.listen-address=127.0.0.1:9090",
    ]);
    const api = `http://${cluster.forwards.prometheus}/api/v1`;
    const series = await eventually(
      "Prometheus to scrape execve_counter_total from the agent pod",
      async () => {
        // A bounded request: one that hangs (e.g. made while Prometheus starts) is retried.
        const r = (await (await fetch(`${api}/query?query=${encodeURIComponent("execve_counter_total")}`, { signal: AbortSignal.timeout(5_000) })).json()) as {
          data: { result: { metric: Record<string, string>; value: [number, string] }[] };
        };
        return r.data.result.length > 0 ? r.data.result : undefined;
      },
      120_000,
      2_000,
    );
    expect(series[0]!.metric).toMatchObject({
      namespace: "default",
      ebpfmap: "execve-tracepoint",
      job: "ebpf-agent",
      pod: agentPod.metadata.name,
      instance: target,
    });
    expect(Number(series[0]!.value[1])).toBeGreaterThan(0);
    const up = (await (
      await fetch(`${api}/query?query=${encodeURIComponent(`up{instance="${target}"}`)}`, { signal: AbortSignal.timeout(10_000) })
    ).json()) as { data: { result: { value: [number, string] }[] } };
    expect(up.data.result[0]!.value[1]).toBe("1");
  });

  it("deleting the agent pod: the DaemonSet's new pod adopts the pins, the counter goes on, the program is attached once", async () => {
    const old = (await pods("agent"))[0]!;
    const before = (await execveCount())!;
    await cluster.kubectlOk(["delete", "pod", "-n", SYSTEM, old.metadata.name, "--wait=true", "--timeout=120s"], { timeoutMs: 130_000 });
    await execs(5); // counted while no agent runs: the program stays attached
    await cluster.kubectlOk(["rollout", "status", "-n", SYSTEM, "daemonset/ebpf-operator-agent", "--timeout=180s"], { timeoutMs: 190_000 });
    const fresh = (await pods("agent"))[0]!;
    expect(fresh.metadata.uid).not.toBe(old.metadata.uid);
    const status = await eventually("the new agent to report the program adopted", async () => {
      const s = await nodeStatus();
      return s?.status.program?.adopted && s.status.phase === "Running" ? s : undefined;
    });
    expect(status.status.program!.id).toBe(programId);
    expect(linksOf(programId)).toBe(1);
    const after = await eventually("the counter through the new agent", execveCount);
    expect(after).toBeGreaterThanOrEqual(before + 5);
  });

  it("restarting the operator pods loses nothing: the EbpfMap stays Ready on the same program and object", async () => {
    const object = (JSON.parse(await cluster.kubectlOk(["get", "ebpfmap", "execve-tracepoint", "-o", "json"])) as { status: { object?: unknown } }).status
      .object;
    await cluster.kubectlOk(["rollout", "restart", "-n", SYSTEM, "deployment/ebpf-operator"]);
    await cluster.kubectlOk(["rollout", "status", "-n", SYSTEM, "deployment/ebpf-operator", "--timeout=300s"], { timeoutMs: 310_000 });
    await eventually("the EbpfMap Ready again after the operator restart", async () => {
      const out = await cluster.kubectlOk(["get", "ebpfmap", "execve-tracepoint"]);
      return /1\/1\s+AllNodesReady/.test(out) ? out : undefined;
    });
    const now = JSON.parse(await cluster.kubectlOk(["get", "ebpfmap", "execve-tracepoint", "-o", "json"])) as { status: { object?: unknown } };
    expect(now.status.object).toEqual(object);
    expect((await nodeStatus())!.status.program!.id).toBe(programId);
    expect(linksOf(programId)).toBe(1);
    const before = (await execveCount())!;
    await execs(3);
    await eventually("counting on", async () => ((await execveCount())! >= before + 3 ? true : undefined));
  });

  it("tenant roles are aggregated into admin, edit and view by the controller-manager", async () => {
    const rulesOf = async (role: string) =>
      (
        JSON.parse(await cluster.kubectlOk(["get", "clusterrole", role, "-o", "json"])) as {
          rules?: { apiGroups?: string[]; resources?: string[]; verbs?: string[] }[];
        }
      ).rules ?? [];
    for (const [role, verb] of [
      ["admin", "create"],
      ["edit", "create"],
      ["view", "list"],
    ] as const) {
      await eventually(
        `ClusterRole ${role} to aggregate the EbpfMap rules`,
        async () =>
          (await rulesOf(role)).some((r) => r.apiGroups?.includes("observability.cloud") && r.resources?.includes("ebpfmaps") && r.verbs?.includes(verb))
            ? true
            : undefined,
        60_000,
      );
    }
    // And they work: a user bound to the built-in `view` in one namespace lists its EbpfMaps there only.
    const user = await cluster.userKubeconfig("tenant-viewer");
    await cluster.kubectlOk(["create", "rolebinding", "tenant-viewer", "--clusterrole=view", "--user=tenant-viewer", "-n", "default"]);
    try {
      await eventually(
        "view to allow listing EbpfMaps",
        async () => ((await cluster.kubectl(["get", "ebpfmaps", "-n", "default"], { kubeconfig: user })).code === 0 ? true : undefined),
        30_000,
      );
      expect((await cluster.kubectl(["auth", "can-i", "create", "ebpfmaps", "-n", "default"], { kubeconfig: user })).stdout.trim()).toBe("no");
      expect((await cluster.kubectl(["get", "ebpfmaps", "-n", SYSTEM], { kubeconfig: user })).code).not.toBe(0);
    } finally {
      await cluster.kubectl(["delete", "rolebinding", "tenant-viewer", "-n", "default"]);
    }
  });

  it("deleting the EbpfMap unloads it: no pins, no link, no program", async () => {
    await cluster.kubectlOk(["delete", "-f", join(repoRoot, "examples/execve-tracepoint.yaml"), "--timeout=120s"], { timeoutMs: 130_000 });
    await eventually("the pins to go", async () => (pins().length === 0 ? true : undefined), 60_000);
    await eventually("the program to go", async () => (!programExists(programId) ? true : undefined), 60_000);
    expect(linksOf(programId)).toBe(0);
  });
});
