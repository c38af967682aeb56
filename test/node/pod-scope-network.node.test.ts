/**
 * Pod-scoped `xdp` and `socket` programs with real pods: the real kubelet, containerd and the
 * CNI bridge plugin (docs/kube-node.md) run two tenants' pods; the agent is installed the way a
 * user who wants these types installs it, with the Helm chart and `agent.podNetworkScope: true`
 * (hostPID, CAP_SYS_ADMIN, CAP_SYS_PTRACE: docs/deploy.md), as a release of its own that is
 * removed at the end; the default install the other node tests check is not touched.
 *
 * The CNI: the bridge plugin gives each pod a veth pair, the pod's end `eth0` in the pod's
 * network namespace and the other end on the node's bridge `cni0` (in the node's network
 * namespace, which the harness made: nothing here is on the machine's own interfaces). The agent
 * finds the pod's namespace from the pod's earliest process and attaches inside it, to `eth0`
 * (the device whose peer is in another namespace), behind its per-pod network gate. XDP sees what
 * an interface receives, so the test makes packets arrive there from outside the pod: UDP
 * datagrams from the node's side (the node's namespace, through `cni0` and the veth) and from
 * another pod (across the bridge). Nobody listens on the port: the datagrams are counted on the
 * way in, the pod's ICMP replies go out (which XDP never sees and the socket filter skips).
 *
 * alice and bob each run a pod `web-1` labelled `app: web` (same name, same labels); alice applies
 * examples/pod-xdp-packets.yaml and examples/pod-socket-bytes.yaml with her own kubectl under the
 * default tenancy policy; bob's pod always gets more packets than hers. Her rows carry her pods'
 * names and exactly her pods' UDP packets (bytes), none of bob's; a new pod is attached within
 * seconds and counted; a deleted pod's series disappear. From the host, the test checks in the
 * kernel where things are attached (XDP on alice's pods' `eth0` only, packet sockets in her pods'
 * namespaces only, nothing on the node's interfaces). Everything is removed pass or fail.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findCgroup2MountInfo } from "@ebpf-operator/core";
import { repoRoot } from "../helpers/kube/control-plane.js";
import { PIN_ROOT, eventually, pinsUnder, programExists, tailCallsOf } from "../helpers/node/bpf.js";
import { attachNodeCluster } from "../helpers/node/cluster.js";
import { agentReader, type AgentReader } from "../helpers/node/agent-metrics.js";
import { podLinks as podLinksIn, podPacketSockets as packetSocketsIn, xdpOf, type IpLink } from "../helpers/node/pod-net.js";

const cluster = attachNodeCluster();
/** The release and its namespace: an install of its own, with the pod network scope. */
const RELEASE = "eop-podnet";
const NS = `eop-podnet-${process.pid}`;
const PREFIX = `${RELEASE}-ebpf-operator`;
const chart = join(repoRoot, "deploy/helm/ebpf-operator");
const ALICE = `eop-netalice-${process.pid}`;
const BOB = `eop-netbob-${process.pid}`;
const XDP = { name: "pod-xdp-packets", metric: "pod_xdp_packets_total", file: "examples/pod-xdp-packets.yaml" };
const SOCKET = { name: "pod-socket-bytes", metric: "pod_socket_bytes_total", file: "examples/pod-socket-bytes.yaml" };
/** Nobody listens on it (in any pod): datagrams are counted on the way in. */
const PORT = 40_000 + (process.pid % 10_000);
/** A frame of one datagram: 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + 16 (payload) bytes. */
const FRAME = 58;
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

/** `count` 16-byte UDP datagrams to `ip`:PORT, one after the other, from a node script `runner` runs. */
const sendScript = (ip: string, count: number) =>
  `const s=require("dgram").createSocket("udp4");let i=0;` +
  `const f=()=>s.send(Buffer.alloc(16,120),${PORT},"${ip}",(e)=>{if(e)throw e;if(++i<${count})f();else{s.close();console.log(i)}});f();`;

describe("pod-scoped xdp and socket programs with real pods (chart installed with agent.podNetworkScope)", () => {
  let alice = "";
  let bob = "";
  let reader: AgentReader | undefined;
  const uids: Record<string, string> = {};
  const ips: Record<string, string> = {};

  const report = async (name: string): Promise<NodeReport | undefined> => {
    const r = await cluster.kubectl(["get", "ebpfmapnodestatus", `${name}.${cluster.nodeName}`, "-n", ALICE, "-o", "json"]);
    return r.code === 0 ? (JSON.parse(r.stdout) as NodeReport) : undefined;
  };
  /** Every series of `metric` the agent serves: its labels and value. */
  const series = async (metric: string): Promise<{ labels: string; value: number }[]> =>
    (await reader!.read())
      .split("\n")
      .filter((line) => line.startsWith(`${metric}{`))
      .map((line) => ({ labels: line.slice(metric.length, line.lastIndexOf(" ")), value: Number(line.slice(line.lastIndexOf(" ") + 1)) }));
  /** The UDP row of alice's pod `pod` in `metric` (undefined: no such row). */
  const udpOf = async (metric: string, ebpfmap: string, pod: string) =>
    (await series(metric)).find((s) => s.labels === `{namespace="${ALICE}",ebpfmap="${ebpfmap}",pod="${pod}",protocol="udp"}`)?.value;
  const runPod = async (kubeconfig: string, namespace: string, name: string) => {
    await cluster.kubectlOk(["apply", "-f", "-"], { kubeconfig, input: podManifest(namespace, name) });
    await cluster.kubectlOk(["wait", "--for=condition=Ready", `pod/${name}`, "-n", namespace, "--timeout=120s"], { kubeconfig, timeoutMs: 130_000 });
    const pod = JSON.parse(await cluster.kubectlOk(["get", "pod", name, "-n", namespace, "-o", "json"])) as {
      metadata: { uid: string };
      status: { podIP: string };
    };
    uids[`${namespace}/${name}`] = pod.metadata.uid;
    ips[`${namespace}/${name}`] = pod.status.podIP;
  };
  /** Datagrams from the node's network namespace (the node's side of the pods' veths). */
  const sendFromNode = async (namespace: string, pod: string, count: number) => {
    const r = await cluster.exec([process.execPath, "-e", sendScript(ips[`${namespace}/${pod}`]!, count)], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.stdout.trim())).toBe(count);
  };
  /** Datagrams from inside a pod's container to another pod's address (across the CNI bridge). */
  const sendFromPod = async (kubeconfig: string, from: [string, string], to: [string, string], count: number) => {
    const out = await cluster.kubectlOk(["exec", "-n", from[0], from[1], "-c", "app", "--", "node", "-e", sendScript(ips[to.join("/")]!, count)], {
      kubeconfig,
      timeoutMs: 60_000,
    });
    expect(Number(out.trim())).toBe(count);
  };
  /** The pod's cgroup v2 directory as the host sees it (the kubelet's cgroupfs layout below the run's cgroupRoot). */
  const podCgroup = async (namespace: string, name: string) =>
    join((await findCgroup2MountInfo())!.path, RUN_CGROUP, "kubepods", "besteffort", `pod${uids[`${namespace}/${name}`]}`);
  /** The pod's cgroup id (its cgroup v2 directory's inode): what the agent's gate hands the program. */
  const podCgroupId = async (namespace: string, name: string) => statSync(await podCgroup(namespace, name)).ino;
  /** `ip -j -d link show` in the pod's network namespace, from the host. */
  const podLinks = async (namespace: string, name: string) => podLinksIn(await podCgroup(namespace, name));
  const podPacketSockets = async (namespace: string, name: string) => packetSocketsIn(await podCgroup(namespace, name));
  /** The node's own interfaces (cni0, the pods' host-side veths, lo, ...): XDP programs on each. */
  const nodeXdp = async () => {
    const r = await cluster.exec(["ip", "-j", "-d", "link", "show"]);
    expect(r.code, r.stderr).toBe(0);
    return xdpOf(JSON.parse(r.stdout) as IpLink[]);
  };
  const pins = () => pinsUnder(cluster.nodePath(join(PIN_ROOT, ALICE)));
  const running = (name: string, pods: number) =>
    eventually(
      `${name} Running, attached to ${pods} pod(s)`,
      async () => {
        const r = await report(name);
        return r?.status.phase === "Running" && r.status.program?.attachments?.length === pods ? r : undefined;
      },
      120_000,
    );

  beforeAll(async () => {
    await cluster.kubectlOk(["create", "namespace", NS]);
    // hostPID and SYS_ADMIN: only the privileged Pod Security level admits them.
    await cluster.kubectlOk(["label", "namespace", NS, "pod-security.kubernetes.io/enforce=privileged"]);
    const install = await cluster.helm(
      [
        "install",
        RELEASE,
        chart,
        "-n",
        NS,
        "--set",
        "operator.image.pullPolicy=Never",
        "--set",
        "agent.image.pullPolicy=Never",
        "--set",
        "agent.podNetworkScope=true",
        "--wait",
        "--timeout",
        "5m",
      ],
      { timeoutMs: 320_000 },
    );
    expect(install.code, install.stderr).toBe(0);
    for (const ns of [ALICE, BOB]) await cluster.kubectlOk(["create", "namespace", ns]);
    alice = await cluster.userKubeconfig("alice");
    bob = await cluster.userKubeconfig("bob");
    await cluster.kubectlOk(["create", "rolebinding", "alice", "--clusterrole=edit", "--user=alice", "-n", ALICE]);
    await cluster.kubectlOk(["create", "rolebinding", "bob", "--clusterrole=edit", "--user=bob", "-n", BOB]);
    await Promise.all([runPod(alice, ALICE, "web-1"), runPod(bob, BOB, "web-1")]);
    reader = await agentReader(cluster, NS, PREFIX);
  });

  afterAll(async () => {
    await reader?.remove();
    for (const { name } of [XDP, SOCKET]) {
      await cluster.kubectl(["delete", "ebpfmap", name, "-n", ALICE, "--ignore-not-found", "--timeout=120s"], { timeoutMs: 130_000 });
    }
    for (const ns of [ALICE, BOB]) await cluster.kubectl(["delete", "namespace", ns, "--ignore-not-found", "--timeout=120s"], { timeoutMs: 130_000 });
    await cluster.helm(["uninstall", RELEASE, "-n", NS, "--wait", "--timeout", "3m"], { timeoutMs: 200_000 });
    await cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--timeout=120s"], { timeoutMs: 130_000 });
    // Helm never deletes CRDs; the other node tests install their own.
    await cluster.kubectl(["delete", "-f", join(chart, "crds"), "--ignore-not-found", "--timeout=60s"], { timeoutMs: 70_000 });
    expect(pins()).toEqual([]);
  });

  it("the release's agent has what the pod network scope needs (hostPID, SYS_ADMIN, SYS_PTRACE), and is Ready", async () => {
    const ds = JSON.parse(await cluster.kubectlOk(["get", "daemonset", `${PREFIX}-agent`, "-n", NS, "-o", "json"])) as {
      spec: { template: { spec: { hostPID?: boolean; containers: { name: string; securityContext: { capabilities: { add: string[] } } }[] } } };
      status: { numberReady: number };
    };
    expect(ds.spec.template.spec.hostPID).toBe(true);
    expect(ds.spec.template.spec.containers.find((c) => c.name === "agent")!.securityContext.capabilities.add).toEqual(
      expect.arrayContaining(["SYS_ADMIN", "SYS_PTRACE"]),
    );
    expect(ds.status.numberReady).toBe(1);
  });

  it("alice's examples/pod-xdp-packets.yaml, applied with her own kubectl, is attached inside her pod's network namespace, to its eth0 (the CNI's veth) only", async () => {
    await cluster.kubectlOk(["apply", "-n", ALICE, "-f", "-"], { kubeconfig: alice, input: readFileSync(join(repoRoot, XDP.file), "utf8") });
    const r = await running(XDP.name, 1);
    const links = await podLinks(ALICE, "web-1");
    const eth0 = links.find((l) => l.ifname === "eth0")!;
    expect(r.status.program!.attachments).toEqual([
      `pod ${ALICE}/web-1: xdp eth0 (ifindex ${eth0.ifindex} in the pod's network namespace, generic mode) (gate: pod cgroup id ${await podCgroupId(ALICE, "web-1")})`,
    ]);
    // In the kernel, from the host: an XDP program (the agent's gate for her pod, in generic
    // mode as the example asks) on her pod's eth0, the veth whose peer is on the node's bridge;
    // none on loopback, none in bob's pod, none on any interface of the node.
    const xdp = xdpOf(links);
    expect(eth0.link_netnsid).toBeDefined();
    expect(xdp.eth0).toHaveLength(1);
    expect(eth0.xdp!.mode).toBe(2); // XDP_ATTACHED_SKB: generic
    // The agent's gate, tail-calling alice's program (loaded, never attached itself).
    expect(tailCallsOf(xdp.eth0![0]!)).toEqual({ name: "eop_pod_netgate", calls: [r.status.program!.id] });
    expect(xdp.lo).toEqual([]);
    expect(Object.values(xdpOf(await podLinks(BOB, "web-1"))).flat()).toEqual([]);
    expect(Object.values(await nodeXdp()).flat()).toEqual([]);
    expect(pins().filter((p) => p.includes(`/pod_${uids[`${ALICE}/web-1`]}_`))).toHaveLength(1);
  });

  it("counts exactly the UDP datagrams alice's pod receives (sent from the node's side of its veth) under pod=web-1, none of bob's pod's (same name, more packets)", async () => {
    await sendFromNode(ALICE, "web-1", 25);
    await sendFromNode(BOB, "web-1", 40);
    expect(await eventually("alice's 25 datagrams", async () => ((await udpOf(XDP.metric, XDP.name, "web-1")) === 25 ? 25 : undefined), 30_000)).toBe(25);
    // Every row is alice's pod's (other protocols, e.g. the pod's IPv6 neighbour discovery, may
    // have their own rows); bob's 40 are in no row.
    const rows = await series(XDP.metric);
    expect(rows.every((s) => s.labels.startsWith(`{namespace="${ALICE}",ebpfmap="${XDP.name}",pod="web-1",protocol="`))).toBe(true);
    expect(rows.filter((s) => s.labels.endsWith(`protocol="udp"}`))).toEqual([
      { labels: `{namespace="${ALICE}",ebpfmap="${XDP.name}",pod="web-1",protocol="udp"}`, value: 25 },
    ]);
    await sendFromNode(BOB, "web-1", 15);
    await sendFromNode(ALICE, "web-1", 10);
    expect(await eventually("alice's 10 more", async () => ((await udpOf(XDP.metric, XDP.name, "web-1")) === 35 ? 35 : undefined), 30_000)).toBe(35);
  });

  it("alice's examples/pod-socket-bytes.yaml runs a packet socket in her pod's namespace only and counts exactly the bytes her pod receives", async () => {
    await cluster.kubectlOk(["apply", "-n", ALICE, "-f", "-"], { kubeconfig: alice, input: readFileSync(join(repoRoot, SOCKET.file), "utf8") });
    const r = await running(SOCKET.name, 1);
    const eth0 = (await podLinks(ALICE, "web-1")).find((l) => l.ifname === "eth0")!;
    expect(r.status.program!.attachments).toEqual([
      expect.stringMatching(
        new RegExp(
          `^pod ${ALICE}/web-1: socket filter on eth0 in the pod's network namespace \\(ifindex ${eth0.ifindex}, AF_PACKET fd \\d+\\) \\(gate: pod cgroup id ${await podCgroupId(ALICE, "web-1")}\\)$`,
        ),
      ),
    ]);
    expect(await podPacketSockets(ALICE, "web-1")).toEqual([eth0.ifindex]);
    expect(await podPacketSockets(BOB, "web-1")).toEqual([]);
    await sendFromNode(ALICE, "web-1", 10);
    await sendFromNode(BOB, "web-1", 30);
    const bytes = await eventually(
      "alice's 10 frames",
      async () => ((await udpOf(SOCKET.metric, SOCKET.name, "web-1")) === 10 * FRAME ? 10 * FRAME : undefined),
      30_000,
    );
    expect(bytes).toBe(10 * FRAME);
    expect((await series(SOCKET.metric)).filter((s) => s.labels.endsWith(`protocol="udp"}`))).toEqual([
      { labels: `{namespace="${ALICE}",ebpfmap="${SOCKET.name}",pod="web-1",protocol="udp"}`, value: 10 * FRAME },
    ]);
    // XDP counted the same 10 on top of its 35.
    expect(await eventually("XDP's 45", async () => ((await udpOf(XDP.metric, XDP.name, "web-1")) === 45 ? 45 : undefined), 30_000)).toBe(45);
  });

  it("a new matching pod is attached within seconds and counts what another pod sends it; a deleted pod's series disappear", async () => {
    await runPod(alice, ALICE, "web-2");
    const ready = Date.now();
    for (const { name } of [XDP, SOCKET]) {
      await eventually(
        `web-2 attached by ${name}`,
        async () => ((await report(name))?.status.program?.attachments?.some((a) => a.startsWith(`pod ${ALICE}/web-2`)) ? true : undefined),
        15_000,
        250,
      );
    }
    expect((Date.now() - ready) / 1000).toBeLessThan(10);
    // bob's pod sends to alice's new pod across the bridge (pod to pod): counted at web-2's eth0, as web-2's.
    await sendFromPod(bob, [BOB, "web-1"], [ALICE, "web-2"], 12);
    expect(await eventually("web-2's 12 datagrams", async () => ((await udpOf(XDP.metric, XDP.name, "web-2")) === 12 ? 12 : undefined), 30_000)).toBe(12);
    expect(
      await eventually("web-2's 12 frames", async () => ((await udpOf(SOCKET.metric, SOCKET.name, "web-2")) === 12 * FRAME ? true : undefined), 30_000),
    ).toBe(true);
    expect(await udpOf(XDP.metric, XDP.name, "web-1")).toBe(45);
    expect(await udpOf(SOCKET.metric, SOCKET.name, "web-1")).toBe(10 * FRAME);

    await cluster.kubectlOk(["delete", "pod", "web-2", "-n", ALICE, "--wait=true", "--timeout=60s"], { kubeconfig: alice, timeoutMs: 70_000 });
    await eventually(
      "web-2's series to disappear",
      async () => ((await series(XDP.metric)).concat(await series(SOCKET.metric)).some((s) => s.labels.includes(`pod="web-2"`)) ? undefined : true),
      30_000,
    );
    // The per-node status is written to the API server after the agent's own state changes (the
    // series go first): wait for it.
    for (const { name } of [XDP, SOCKET]) {
      const after = await eventually(
        `${name}'s status to drop web-2`,
        async () => {
          const r = await report(name);
          return r?.status.program?.attachments?.length === 1 ? r : undefined;
        },
        30_000,
      );
      expect(after.status.program!.attachments).toEqual([expect.stringMatching(new RegExp(`^pod ${ALICE}/web-1: `))]);
    }
    expect(pins().some((p) => p.includes(`/pod_${uids[`${ALICE}/web-2`]}_`))).toBe(false);
    expect(await udpOf(XDP.metric, XDP.name, "web-1")).toBe(45);
  });

  it("deleting the EbpfMaps detaches them from the pod: no XDP program, no packet socket, no program, no pins", async () => {
    const ids = await Promise.all([XDP, SOCKET].map(async ({ name }) => (await report(name))!.status.program!.id));
    for (const { name } of [XDP, SOCKET]) {
      await cluster.kubectlOk(["delete", "ebpfmap", name, "-n", ALICE, "--timeout=120s"], { kubeconfig: alice, timeoutMs: 130_000 });
    }
    await eventually("the pins to go", async () => (pins().length === 0 ? true : undefined), 60_000);
    for (const id of ids) await eventually(`program ${id} to go`, async () => (!programExists(id) ? true : undefined), 60_000);
    expect(Object.values(xdpOf(await podLinks(ALICE, "web-1"))).flat()).toEqual([]);
    expect(await podPacketSockets(ALICE, "web-1")).toEqual([]);
  });
});
