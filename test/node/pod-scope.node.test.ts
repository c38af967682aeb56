/**
 * Pod scope with real pods: the real kubelet and containerd (runc, cgroupfs driver on this
 * machine's hybrid cgroup layout) run two tenants' pods, and the installed agent finds their
 * cgroups in the cgroup v2 hierarchy by itself (pods/pod-cgroups.ts: the pod UID in the path the
 * kubelet makes, nothing from the test). Nothing is laid out by the test.
 *
 * alice and bob each run a pod `web-1` labelled `app: web` (the agent image, with its `node`, as
 * the workload: the only images on this node are the ones built here). alice applies
 * examples/pod-egress.yaml in her namespace with kubectl, as her tenant role allows, under the
 * default tenancy policy. Each pod sends a known number of UDP packets on its own loopback
 * (`kubectl exec`, so the sender runs in the pod's container cgroup, as runc puts it there);
 * alice's series carry her pod's name and count exactly her pod's packets and none of bob's. A
 * new matching pod is attached within seconds and counted; a deleted pod's series disappear; a
 * selected pod that has finished (its cgroup gone) is named in the status with its coded reason.
 * alice's pod-scoped tracepoint (examples/pod-syscalls.yaml: the agent's cgroup gate in front of
 * her program, in the real DaemonSet with its real capabilities) counts exactly her pod's getppid
 * calls while bob's pod makes more. This install has no pod network scope (deploy/operator.yaml:
 * no hostPID, no CAP_SYS_ADMIN/SYS_PTRACE): alice's examples/pod-xdp-packets.yaml runs attached to
 * no pod and says why (pod-scope-network.node.test.ts installs the chart with the scope).
 * Pods, the install, pins and namespaces are removed pass or fail; the pods' cgroups go with
 * the pods (the harness removes the run's cgroup subtree at the end).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findCgroup2MountInfo } from "@ebpf-operator/core";
import { repoRoot } from "../helpers/kube/control-plane.js";
import { PIN_ROOT, eventually, pinsUnder, programExists } from "../helpers/node/bpf.js";
import { attachNodeCluster } from "../helpers/node/cluster.js";
import { agentReader, type AgentReader } from "../helpers/node/agent-metrics.js";
import { podLinks, xdpOf, type IpLink } from "../helpers/node/pod-net.js";

const cluster = attachNodeCluster();
const SYSTEM = "ebpf-operator-system";
const ALICE = `eop-alice-${process.pid}`;
const BOB = `eop-bob-${process.pid}`;
const NAME = "pod-egress";
const METRIC = "pod_egress_packets_total";
/** The pod-scoped tracepoint example: its resource and metric. */
const TRACING = "pod-syscalls";
const TRACING_METRIC = "pod_syscalls_total";
/** The run's cgroup subtree (the kubelet's cgroupRoot), named after the run's directory. */
const RUN_CGROUP = (JSON.parse(readFileSync(join(cluster.dir, "node.json"), "utf8")) as { cgroup: string }).cgroup;

interface NodeReport {
  status: { phase: string; program?: { id: number; attachments?: string[] }; conditions?: { type: string; message: string }[] };
}

const podManifest = (namespace: string, name: string) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels: { app: "web" } },
    spec: {
      terminationGracePeriodSeconds: 0,
      containers: [{ name: "app", image: cluster.images.agent.ref, imagePullPolicy: "Never", command: ["sleep", "infinity"] }],
    },
  });

/**
 * `count` UDP packets from inside the pod's container to a socket of the same process on the
 * pod's loopback (a bound receiver: no ICMP reply, nothing else leaves). Returns how many the
 * receiver got.
 */
async function sendFrom(kubeconfig: string, namespace: string, pod: string, count: number, container = "app"): Promise<number> {
  const script =
    `const d=require("dgram");const r=d.createSocket("udp4");let got=0;` +
    `r.on("message",()=>{if(++got===${count}){r.close();s.close();console.log(got)}});` +
    `const s=d.createSocket("udp4");` +
    `r.bind(0,"127.0.0.1",()=>{let i=0;const f=()=>s.send(Buffer.alloc(16,120),r.address().port,"127.0.0.1",(e)=>{if(e)throw e;if(++i<${count})f()});f()});` +
    `setTimeout(()=>{console.log(got);process.exit(1)},10000).unref();`;
  const out = await cluster.kubectlOk(["exec", "-n", namespace, pod, "-c", container, "--", "node", "-e", script], { kubeconfig, timeoutMs: 60_000 });
  return Number(out.trim());
}

/**
 * Makes `count` getppid(2) calls from a process in the pod's container (`process.ppid` is one call
 * each; node makes none of its own). The parent is outside the pod's PID namespace: getppid is 0.
 */
async function getppidFrom(kubeconfig: string, namespace: string, pod: string, count: number): Promise<void> {
  const script = `let s=0;for(let i=0;i<${count};i++)s+=process.ppid;console.log(s===0)`;
  const out = await cluster.kubectlOk(["exec", "-n", namespace, pod, "-c", "app", "--", "node", "-e", script], { kubeconfig, timeoutMs: 60_000 });
  expect(out.trim()).toBe("true");
}

describe("pod scope with real pods on a real kubelet", () => {
  let alice = "";
  let bob = "";
  let reader: AgentReader | undefined;
  const uids: Record<string, string> = {};

  const report = async (name = NAME): Promise<NodeReport | undefined> => {
    const r = await cluster.kubectl(["get", "ebpfmapnodestatus", `${name}.${cluster.nodeName}`, "-n", ALICE, "-o", "json"]);
    return r.code === 0 ? (JSON.parse(r.stdout) as NodeReport) : undefined;
  };
  /** Every series of `metric` the agent serves: its labels and value. */
  const series = async (metric = METRIC): Promise<{ labels: string; value: number }[]> =>
    (await reader!.read())
      .split("\n")
      .filter((line) => line.startsWith(`${metric}{`))
      .map((line) => ({ labels: line.slice(metric.length, line.lastIndexOf(" ")), value: Number(line.slice(line.lastIndexOf(" ") + 1)) }));
  const valueOf = async (pod: string) => (await series()).find((s) => s.labels.includes(`namespace="${ALICE}"`) && s.labels.includes(`pod="${pod}"`))?.value;
  const runPod = async (kubeconfig: string, namespace: string, name: string) => {
    await cluster.kubectlOk(["apply", "-f", "-"], { kubeconfig, input: podManifest(namespace, name) });
    await cluster.kubectlOk(["wait", "--for=condition=Ready", `pod/${name}`, "-n", namespace, "--timeout=120s"], { kubeconfig, timeoutMs: 130_000 });
    uids[`${namespace}/${name}`] = (await cluster.kubectlOk(["get", "pod", name, "-n", namespace, "-o", "jsonpath={.metadata.uid}"])).trim();
  };
  /** The pod's cgroup v2 directory as the host sees it (the kubelet's cgroupfs layout below the run's cgroupRoot). */
  const hostCgroupOf = async (namespace: string, name: string) => {
    const mount = await findCgroup2MountInfo();
    return join(mount!.path, RUN_CGROUP, "kubepods", "besteffort", `pod${uids[`${namespace}/${name}`]}`);
  };
  const attachedTo = (dir: string): number[] => {
    const out = execFileSync("bpftool", ["cgroup", "show", dir, "-j"], { encoding: "utf8" }).trim();
    return out === "" ? [] : (JSON.parse(out) as { id: number }[]).map((p) => p.id);
  };
  const pins = () => pinsUnder(cluster.nodePath(join(PIN_ROOT, ALICE)));

  beforeAll(async () => {
    await cluster.kubectlOk(["apply", "--server-side", "-f", join(repoRoot, "deploy/operator.yaml")], { timeoutMs: 120_000 });
    for (const ns of [ALICE, BOB]) await cluster.kubectlOk(["create", "namespace", ns]);
    // Each tenant has the built-in `edit` role in their own namespace (the install aggregates
    // the EbpfMap rules into it): pods, exec and EbpfMaps there, nothing elsewhere.
    alice = await cluster.userKubeconfig("alice");
    bob = await cluster.userKubeconfig("bob");
    await cluster.kubectlOk(["create", "rolebinding", "alice", "--clusterrole=edit", "--user=alice", "-n", ALICE]);
    await cluster.kubectlOk(["create", "rolebinding", "bob", "--clusterrole=edit", "--user=bob", "-n", BOB]);
    await cluster.kubectlOk(["rollout", "status", "-n", SYSTEM, "deployment/ebpf-operator", "--timeout=300s"], { timeoutMs: 310_000 });
    await cluster.kubectlOk(["rollout", "status", "-n", SYSTEM, "daemonset/ebpf-operator-agent", "--timeout=300s"], { timeoutMs: 310_000 });
    await Promise.all([runPod(alice, ALICE, "web-1"), runPod(bob, BOB, "web-1")]);
    reader = await agentReader(cluster, SYSTEM, "ebpf-operator");
  });

  afterAll(async () => {
    await reader?.remove();
    for (const name of [NAME, TRACING]) {
      await cluster.kubectl(["delete", "ebpfmap", name, "-n", ALICE, "--ignore-not-found", "--timeout=120s"], { timeoutMs: 130_000 });
    }
    for (const ns of [ALICE, BOB]) await cluster.kubectl(["delete", "namespace", ns, "--ignore-not-found", "--timeout=120s"], { timeoutMs: 130_000 });
    await cluster.kubectl(["delete", "-f", join(repoRoot, "deploy/operator.yaml"), "--ignore-not-found", "--timeout=180s"], { timeoutMs: 190_000 });
    expect(pins()).toEqual([]);
  });

  it("attaches alice's pod-scoped example, applied with her own kubectl, to her pod's cgroup v2 only", async () => {
    const manifest = readFileSync(join(repoRoot, "examples/pod-egress.yaml"), "utf8");
    await cluster.kubectlOk(["apply", "-n", ALICE, "-f", "-"], { kubeconfig: alice, input: manifest });
    const running = await eventually("alice's resource Running, attached to her pod", async () => {
      const r = await report();
      return r?.status.phase === "Running" && r.status.program?.attachments?.length === 1 ? r : undefined;
    });
    // Found by the agent in the kubelet's cgroupfs layout below the run's cgroupRoot, in the v2 hierarchy.
    expect(running.status.program!.attachments).toEqual([`pod ${ALICE}/web-1 (cgroup /${RUN_CGROUP}/kubepods/besteffort/pod${uids[`${ALICE}/web-1`]})`]);
    const programId = running.status.program!.id;
    // From the host: the kernel has the program on alice's pod's cgroup, and on nothing of bob's.
    expect(attachedTo(await hostCgroupOf(ALICE, "web-1"))).toEqual([programId]);
    expect(attachedTo(await hostCgroupOf(BOB, "web-1"))).toEqual([]);
    expect(pins().filter((p) => p.includes(`/pod_${uids[`${ALICE}/web-1`]}_`))).toHaveLength(1);
  });

  it("counts exactly alice's pod's packets under pod=web-1, and none of bob's pod's (same name, same labels)", async () => {
    expect(await sendFrom(alice, ALICE, "web-1", 25)).toBe(25);
    expect(await sendFrom(bob, BOB, "web-1", 40)).toBe(40);
    const value = await eventually("alice's series", async () => ((await valueOf("web-1")) === 25 ? 25 : undefined), 30_000);
    expect(value).toBe(25);
    // One series, alice's; nothing of bob's namespace, no unlabelled or unknown-pod row.
    expect((await series()).map((s) => s.labels)).toEqual([`{namespace="${ALICE}",ebpfmap="${NAME}",pod="web-1"}`]);
    expect(await sendFrom(alice, ALICE, "web-1", 10)).toBe(10);
    expect(await sendFrom(bob, BOB, "web-1", 7)).toBe(7);
    expect(await eventually("alice's 10 more", async () => ((await valueOf("web-1")) === 35 ? 35 : undefined), 30_000)).toBe(35);
  });

  it("attaches a new matching pod within seconds and counts it; a deleted pod's series disappear", async () => {
    await runPod(alice, ALICE, "web-2");
    const ready = Date.now();
    await eventually(
      "web-2 attached",
      async () => ((await report())?.status.program?.attachments?.some((a) => a.startsWith(`pod ${ALICE}/web-2 `)) ? true : undefined),
      15_000,
      250,
    );
    const seconds = (Date.now() - ready) / 1000;
    expect(seconds).toBeLessThan(10);
    expect(await sendFrom(alice, ALICE, "web-2", 12)).toBe(12);
    expect(await eventually("web-2's series", async () => ((await valueOf("web-2")) === 12 ? 12 : undefined), 30_000)).toBe(12);
    expect(await valueOf("web-1")).toBe(35);

    await cluster.kubectlOk(["delete", "pod", "web-2", "-n", ALICE, "--wait=true", "--timeout=60s"], { kubeconfig: alice, timeoutMs: 70_000 });
    await eventually("web-2's series to disappear", async () => ((await valueOf("web-2")) === undefined ? true : undefined), 30_000);
    // The per-node status is written after the agent's own state changes (the series go first).
    const after = await eventually("the status to drop web-2", async () => {
      const r = await report();
      return r?.status.program?.attachments?.length === 1 ? r : undefined;
    });
    expect(after.status.program!.attachments).toEqual([`pod ${ALICE}/web-1 (cgroup /${RUN_CGROUP}/kubepods/besteffort/pod${uids[`${ALICE}/web-1`]})`]);
    expect(pins().some((p) => p.includes(`/pod_${uids[`${ALICE}/web-2`]}_`))).toBe(false);
    expect(await valueOf("web-1")).toBe(35);
  });

  it("a selected pod that has finished (its cgroup gone) is named in the status with EOP_ERR_POD_CGROUP_NOT_FOUND, not attached", async () => {
    const done = JSON.parse(podManifest(ALICE, "web-done")) as { spec: { restartPolicy?: string; containers: { command: string[] }[] } };
    done.spec.restartPolicy = "Never";
    done.spec.containers[0]!.command = ["true"];
    await cluster.kubectlOk(["apply", "-f", "-"], { kubeconfig: alice, input: JSON.stringify(done) });
    try {
      await cluster.kubectlOk(["wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/web-done", "-n", ALICE, "--timeout=120s"], {
        kubeconfig: alice,
        timeoutMs: 130_000,
      });
      // One report, read once: the kubelet may make a finished pod's cgroup again for a moment
      // (then the pod is placed and attached again until it goes), so a second read can differ.
      const finished = await eventually(
        "the finished pod named in the Loaded condition",
        async () => {
          const r = await report();
          return r?.status.conditions?.find((c) => c.type === "Loaded")?.message.includes("web-done: ") ? r : undefined;
        },
        60_000,
      );
      expect(finished.status.conditions!.find((c) => c.type === "Loaded")!.message).toMatch(
        /^program \d+ attached to 1 pod\(s\): web-1; selected but not attached \(EOP_ERR_POD_CGROUP_NOT_FOUND\): web-done: no root-owned cgroup v2 directory named after its UID \(pod[0-9a-f-]+\): not started yet, finished/,
      );
      expect(finished.status.program!.attachments).toEqual([`pod ${ALICE}/web-1 (cgroup /${RUN_CGROUP}/kubepods/besteffort/pod${uids[`${ALICE}/web-1`]})`]);
    } finally {
      await cluster.kubectl(["delete", "pod", "web-done", "-n", ALICE, "--ignore-not-found", "--wait=true", "--timeout=60s"], { timeoutMs: 70_000 });
    }
    // Gone from the API server: no longer selected, no longer said.
    await eventually(
      "the message to drop the deleted pod",
      async () => ((await report())?.status.conditions?.find((c) => c.type === "Loaded")?.message.includes("web-done") === false ? true : undefined),
      60_000,
    );
  });

  it("a pod-scoped tracepoint (examples/pod-syscalls.yaml, behind the agent's gate) counts exactly alice's pod's getppid calls and none of bob's", async () => {
    const manifest = readFileSync(join(repoRoot, "examples/pod-syscalls.yaml"), "utf8");
    await cluster.kubectlOk(["apply", "-n", ALICE, "-f", "-"], { kubeconfig: alice, input: manifest });
    const running = await eventually(
      "pod-syscalls Running, gated for alice's pod",
      async () => {
        const r = await report(TRACING);
        return r?.status.phase === "Running" && r.status.program?.attachments?.length === 1 ? r : undefined;
      },
      60_000,
    );
    expect(running.status.program!.attachments).toEqual([`pod ${ALICE}/web-1 (cgroup /${RUN_CGROUP}/kubepods/besteffort/pod${uids[`${ALICE}/web-1`]})`]);
    const getppid = async () => (await series(TRACING_METRIC)).filter((s) => s.labels.includes(`syscall="getppid"`));
    const before = (await getppid()).find((s) => s.labels.includes(`pod="web-1"`))?.value ?? 0;
    // bob's pod (same name, same labels, another namespace) calls more, first; then alice's.
    await getppidFrom(bob, BOB, "web-1", 20_000);
    await getppidFrom(alice, ALICE, "web-1", 5_000);
    const rows = await eventually(
      "alice's 5000 getppid calls",
      async () => {
        const now = await getppid();
        return now.find((s) => s.labels.includes(`pod="web-1"`))?.value === before + 5_000 ? now : undefined;
      },
      30_000,
    );
    // Exactly her calls: one row, alice's pod's; bob's 20000 nowhere (nor in an unlabelled row).
    expect(rows).toEqual([{ labels: `{namespace="${ALICE}",ebpfmap="${TRACING}",pod="web-1",syscall="getppid"}`, value: before + 5_000 }]);
    expect((await series(TRACING_METRIC)).every((s) => s.labels.startsWith(`{namespace="${ALICE}",ebpfmap="${TRACING}",pod="web-1",`))).toBe(true);
    await cluster.kubectlOk(["delete", "ebpfmap", TRACING, "-n", ALICE, "--timeout=120s"], { kubeconfig: alice, timeoutMs: 130_000 });
    await eventually("the tracing program to go", async () => (!programExists(running.status.program!.id) ? true : undefined), 60_000);
  });

  it("the default install (no pod network scope) runs examples/pod-xdp-packets.yaml attached to no pod and says why; nothing is on the pod's or the node's interfaces", async () => {
    const XDP = "pod-xdp-packets";
    await cluster.kubectlOk(["apply", "-n", ALICE, "-f", "-"], {
      kubeconfig: alice,
      input: readFileSync(join(repoRoot, "examples/pod-xdp-packets.yaml"), "utf8"),
    });
    try {
      const loaded = (r: NodeReport | undefined) => r?.status.conditions?.find((c) => c.type === "Loaded")?.message ?? "";
      const r = await eventually(
        "pod-xdp-packets Running, saying why it is on no pod",
        async () => {
          const r = await report(XDP);
          return r?.status.phase === "Running" && loaded(r).includes("web-1") ? r : undefined;
        },
        120_000,
      );
      // The DaemonSet has neither the host's PID namespace nor CAP_SYS_PTRACE/CAP_SYS_ADMIN
      // (docs/deploy.md): the agent cannot see the pod's processes, and says so.
      expect(loaded(r)).toMatch(
        /^program \d+ loaded, attached to no pod; not yet attached to web-1: no process of the pod whose network namespace the agent can open \(none started yet, or the agent lacks the host's PID namespace or CAP_SYS_PTRACE: docs\/deploy\.md\)$/,
      );
      expect(r.status.program!.attachments ?? []).toEqual([]);
      expect(Object.values(xdpOf(podLinks(await hostCgroupOf(ALICE, "web-1")))).flat()).toEqual([]);
      const node = await cluster.exec(["ip", "-j", "-d", "link", "show"]);
      expect(Object.values(xdpOf(JSON.parse(node.stdout) as IpLink[])).flat()).toEqual([]);
    } finally {
      await cluster.kubectl(["delete", "ebpfmap", XDP, "-n", ALICE, "--ignore-not-found", "--timeout=120s"], { timeoutMs: 130_000 });
    }
  });

  it("container scope: examples/pod-container-egress.yaml attaches to the server container of a two-container pod only, found by the id in the pod's status; its series is labelled pod and container", async () => {
    const CONTAINER_METRIC = "pod_container_egress_packets_total";
    const duo = JSON.parse(podManifest(ALICE, "duo-1")) as { spec: { containers: { name: string }[] } };
    duo.spec.containers = ["server", "sidecar"].map((name) => ({ ...duo.spec.containers[0]!, name }));
    await cluster.kubectlOk(["apply", "-f", "-"], { kubeconfig: alice, input: JSON.stringify(duo) });
    try {
      await cluster.kubectlOk(["wait", "--for=condition=Ready", "pod/duo-1", "-n", ALICE, "--timeout=120s"], { kubeconfig: alice, timeoutMs: 130_000 });
      uids[`${ALICE}/duo-1`] = (await cluster.kubectlOk(["get", "pod", "duo-1", "-n", ALICE, "-o", "jsonpath={.metadata.uid}"])).trim();
      const ids = JSON.parse(await cluster.kubectlOk(["get", "pod", "duo-1", "-n", ALICE, "-o", "jsonpath={.status.containerStatuses}"])) as {
        name: string;
        containerID: string;
      }[];
      const idOf = (name: string) => ids.find((c) => c.name === name)!.containerID.replace(/^[a-z-]+:\/\//, "");
      await cluster.kubectlOk(["apply", "-n", ALICE, "-f", "-"], {
        kubeconfig: alice,
        input: readFileSync(join(repoRoot, "examples/pod-container-egress.yaml"), "utf8"),
      });
      const nodeReport = async () => {
        const r = await cluster.kubectl(["get", "ebpfmapnodestatus", `pod-container-egress.${cluster.nodeName}`, "-n", ALICE, "-o", "json"]);
        return r.code === 0 ? (JSON.parse(r.stdout) as NodeReport) : undefined;
      };
      const running = await eventually("attached to duo-1's server container", async () => {
        const r = await nodeReport();
        return r?.status.phase === "Running" && r.status.program?.attachments?.length === 1 ? r : undefined;
      });
      const podDir = await hostCgroupOf(ALICE, "duo-1");
      expect(running.status.program!.attachments).toEqual([
        `pod ${ALICE}/duo-1 container server (cgroup /${RUN_CGROUP}/kubepods/besteffort/pod${uids[`${ALICE}/duo-1`]}/${idOf("server")})`,
      ]);
      // web-1 (app: web too) has no container named server: named in the status, not attached.
      expect(running.status.conditions?.find((c) => c.type === "Loaded")?.message).toMatch(
        /web-1: spec\.selector\.container: the pod's status names no running container "server"/,
      );
      expect(attachedTo(join(podDir, idOf("server")))).toEqual([running.status.program!.id]);
      expect(attachedTo(join(podDir, idOf("sidecar")))).toEqual([]);
      expect(await sendFrom(alice, ALICE, "duo-1", 9, "server")).toBe(9);
      expect(await sendFrom(alice, ALICE, "duo-1", 4, "sidecar")).toBe(4);
      const rows = () => reader!.read().then((text) => text.split("\n").filter((l) => l.startsWith(`${CONTAINER_METRIC}{`)));
      await eventually("the server container's series", async () => ((await rows()).some((l) => l.endsWith(" 9")) ? true : undefined), 30_000);
      expect(await rows()).toEqual([`${CONTAINER_METRIC}{namespace="${ALICE}",ebpfmap="pod-container-egress",pod="duo-1",container="server"} 9`]);
    } finally {
      await cluster.kubectl(["delete", "ebpfmap", "pod-container-egress", "-n", ALICE, "--ignore-not-found", "--timeout=120s"], { timeoutMs: 130_000 });
      await cluster.kubectl(["delete", "pod", "duo-1", "-n", ALICE, "--ignore-not-found", "--wait=true", "--timeout=60s"], { timeoutMs: 70_000 });
    }
  });

  it("deleting the EbpfMap detaches it from the pod and removes its program and pins", async () => {
    const programId = (await report())!.status.program!.id;
    await cluster.kubectlOk(["delete", "ebpfmap", NAME, "-n", ALICE, "--timeout=120s"], { kubeconfig: alice, timeoutMs: 130_000 });
    await eventually("the pins to go", async () => (pins().length === 0 ? true : undefined), 60_000);
    await eventually("the program to go", async () => (!programExists(programId) ? true : undefined), 60_000);
    const dir = await hostCgroupOf(ALICE, "web-1");
    expect(existsSync(dir)).toBe(true);
    expect(attachedTo(dir)).toEqual([]);
  });
});
