/**
 * Pod-scoped `xdp` and `socket` programs (issue 12) on the real kernel, through the agent's own
 * container (the real xdp and socket plugins, the real pod discovery of pods/, the addon's
 * threads that enter a pod's network namespace).
 *
 * No kubelet runs in this project: the test lays out what a kubelet, containerd and a CNI plugin
 * make for a pod (test/helpers/kubelet-layout.ts, shared with pod-scope.kernel.test.ts): the
 * pod's cgroups (alice's under the cgroupfs driver, bob's under systemd's), a network namespace
 * per pod with a veth pair (the pod's end `eth0`), and the pod's sandbox process in its container
 * cgroup holding the namespace. "The API server" is a StaticPodSource. Traffic: UDP from the
 * test (the node) to each pod's address, which XDP and the socket filter in the pod count by
 * pod (the cgroup id the agent's network gate hands them, `eop_pod_cgroup_id`) and destination
 * port. Everything (pins, namespaces, veths, cgroups, processes) is removed afterwards, pass or
 * fail.
 */
import { execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  PLUGIN,
  StaticPodSource,
  TOKENS,
  createAgentContainer,
  createLogger,
  defaultPodScope,
  parseManifests,
  registryText,
  type Agent,
  type ParsedManifest,
} from "@ebpf-operator/core";
import { findCgroup2Mount } from "../../packages/plugin-cgroup/src/cgroup-mount.js";
import { socketPlugin } from "../../packages/plugin-socket/src/socket-plugin.js";
import { xdpPlugin } from "../../packages/plugin-xdp/src/xdp-plugin.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { KubeletLayout, until, type NetworkedPod } from "../helpers/kubelet-layout.js";
import { example } from "../helpers/manifests.js";
import { sampleValue } from "../helpers/metrics.js";

requireKernelCapabilities();

const PORT = 40_000 + (process.pid % 10_000);
const SUBNET = 250;

const MAP = `struct key {
  u64 cgroup; /* the pod's cgroup id, from the agent's gate */
  u32 port;   /* UDP destination port */
  u32 pad;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, struct key);
  __type(value, u64); /* packets */
} udp_packets SEC(".maps");
`;
const HEADERS = `#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <ebpf-operator/metrics.h>
#include <ebpf-operator/pod.h>
`;
const XDP_CODE = `${HEADERS}
${MAP}
SEC("xdp")
int count_udp(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP || ip->ihl != 5) return XDP_PASS;
  struct udphdr *udp = (void *)(ip + 1);
  if ((void *)(udp + 1) > end) return XDP_PASS;
  struct key key = { .cgroup = eop_pod_cgroup_id(ctx), .port = bpf_ntohs(udp->dest) };
  EOP_COUNTER_INC(udp_packets, key);
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
`;
const SOCKET_CODE = `${HEADERS}
${MAP}
SEC("socket")
int count_udp(struct __sk_buff *skb) {
  u8 proto;
  u16 dest;
  if (skb->pkt_type == PACKET_OUTGOING || skb->protocol != bpf_htons(ETH_P_IP)) return 0;
  if (bpf_skb_load_bytes(skb, ETH_HLEN + 9, &proto, 1) < 0 || proto != IPPROTO_UDP) return 0;
  if (bpf_skb_load_bytes(skb, ETH_HLEN + 20 + 2, &dest, 2) < 0) return 0;
  struct key key = { .cgroup = eop_pod_cgroup_id(skb), .port = bpf_ntohs(dest) };
  EOP_COUNTER_INC(udp_packets, key);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

/**
 * A hostile tenant's programs: each counts its packet under its own pod's id, then writes
 * another pod's cgroup id (`forged`) where the gate put its own (XDP metadata, skb->cb) and
 * counts again under what eop_pod_cgroup_id then says, and once under a made-up id.
 */
function forgingCode(type: "xdp" | "socket", forged: bigint): string {
  const count = (ctx: string, dest: string) => `struct key key = { .cgroup = eop_pod_cgroup_id(${ctx}), .port = bpf_ntohs(${dest}) };
  EOP_COUNTER_INC(udp_packets, key);`;
  const forge =
    type === "xdp"
      ? `void *meta = (void *)(long)ctx->data_meta;
  if (meta + 8 <= (void *)(long)ctx->data) {
    u64 forged = ${forged}ULL;
    __builtin_memcpy(meta, &forged, 8);
  }
  key.cgroup = eop_pod_cgroup_id(ctx);`
      : `skb->cb[0] = (u32)${forged}ULL;
  skb->cb[1] = (u32)(${forged}ULL >> 32);
  key.cgroup = eop_pod_cgroup_id(skb);`;
  const original = type === "xdp" ? count("ctx", "udp->dest") : count("skb", "dest");
  const code = type === "xdp" ? XDP_CODE : SOCKET_CODE;
  if (!code.includes(original)) throw new Error("the forging program no longer matches the test's program");
  return code.replace(
    original,
    `${original}
  ${forge}
  EOP_COUNTER_INC(udp_packets, key);
  key.cgroup = 12345;
  EOP_COUNTER_INC(udp_packets, key);`,
  );
}

const METRIC = { xdp: "pod_xdp_udp_packets_total", socket: "pod_socket_udp_packets_total" } as const;

function manifest(
  namespace: string,
  name: string,
  type: "xdp" | "socket",
  overrides: { target?: string; selector?: unknown; code?: string } = {},
): ParsedManifest {
  return {
    source: `${namespace}-${name}.yaml`,
    document: 0,
    ref: { namespace, name },
    resource: {
      apiVersion: "observability.cloud/v1",
      kind: "EbpfMap",
      metadata: { name, namespace, generation: 1 },
      spec: {
        type,
        target: overrides.target ?? (type === "xdp" ? "xdp/*?mode=generic" : "sockfilter/*"),
        program: "count_udp",
        selector: overrides.selector ?? { matchLabels: { app: "web" } },
        metrics: [
          {
            name: METRIC[type].replace(/_total$/, ""),
            help: `UDP packets the pod received, by destination port (${type})`,
            type: "counter",
            map: "udp_packets",
            labels: [
              { name: "pod", field: "cgroup", decoders: [{ name: "uint" }, { name: "pod" }] },
              { name: "port", field: "port", decoders: [{ name: "uint" }] },
            ],
          },
        ],
        code: overrides.code ?? (type === "xdp" ? XDP_CODE : SOCKET_CODE),
      },
    } as ParsedManifest["resource"],
  };
}

/** The XDP program id on an interface (in a namespace, or the test's own), if any. */
function xdpOn(ifname: string, netns?: string): number | undefined {
  const out = execFileSync("ip", [...(netns ? ["-n", netns] : []), "-j", "-d", "link", "show", "dev", ifname], { encoding: "utf8" });
  const [link] = JSON.parse(out) as { xdp?: { prog?: { id: number }; attached?: { prog?: { id: number } }[] } }[];
  return link?.xdp?.prog?.id ?? link?.xdp?.attached?.[0]?.prog?.id;
}

/**
 * What an attached XDP program is: the agent's network gate (its name) and the program it
 * tail-calls (the id its program array holds: the kernel returns a program id for a program
 * array's value).
 */
function gateOf(id: number): { name: string; calls: number[] } {
  const info = JSON.parse(execFileSync("bpftool", ["-j", "prog", "show", "id", String(id)], { encoding: "utf8" })) as { name: string; map_ids?: number[] };
  const calls: number[] = [];
  for (const mapId of info.map_ids ?? []) {
    const map = JSON.parse(execFileSync("bpftool", ["-j", "map", "show", "id", String(mapId)], { encoding: "utf8" })) as { type: string };
    if (map.type !== "prog_array") continue;
    const entries = JSON.parse(execFileSync("bpftool", ["-j", "map", "dump", "id", String(mapId)], { encoding: "utf8" })) as { value: string[] | number }[];
    for (const entry of entries) calls.push(typeof entry.value === "number" ? entry.value : Buffer.from(entry.value.map((b) => Number(b))).readUInt32LE(0));
  }
  return { name: info.name, calls };
}

/** Every XDP program id attached to an interface of the test's (the node's) own namespace. */
function nodeXdpPrograms(): number[] {
  const links = JSON.parse(execFileSync("ip", ["-j", "-d", "link", "show"], { encoding: "utf8" })) as {
    xdp?: { prog?: { id: number }; attached?: { prog?: { id: number } }[] };
  }[];
  return links.flatMap((l) => [l.xdp?.prog?.id, ...(l.xdp?.attached ?? []).map((a) => a.prog?.id)]).filter((id): id is number => id !== undefined);
}

/** The ifindexes packet sockets of a namespace are bound to (`/proc/net/packet` read inside it). */
function packetSocketIfindexes(netns: string): number[] {
  const text = execFileSync("ip", ["netns", "exec", netns, "cat", "/proc/net/packet"], { encoding: "utf8" });
  return text
    .trim()
    .split("\n")
    .slice(1)
    .map((line) => Number(line.trim().split(/\s+/)[4]));
}

function ifindexIn(netns: string, ifname: string): number {
  return (JSON.parse(execFileSync("ip", ["-n", netns, "-j", "link", "show", "dev", ifname], { encoding: "utf8" })) as { ifindex: number }[])[0]!.ifindex;
}

describe("pod-scoped xdp and socket programs on the real kernel", () => {
  const pinRoot = `/sys/fs/bpf/eop-test-podnet-${process.pid}`;
  const cacheDir = mkdtempSync(join(tmpdir(), "eop-podnet-"));
  const pods = new StaticPodSource();
  let layout: KubeletLayout;
  let agent: Agent;
  let families: () => Promise<string>;
  let alice: NetworkedPod;
  let bob: NetworkedPod;

  const status = (namespace: string, name: string) => agent.statuses().find((s) => s.namespace === namespace && s.name === name);
  const programId = (namespace: string, name: string) => status(namespace, name)!.program!.id;
  /** The packets counted on PORT: of one pod (its `pod` label), or of all the resource's series. */
  const count = async (type: "xdp" | "socket", namespace: string, ebpfmap: string, pod?: string) =>
    (await seriesOf(type, namespace, ebpfmap))
      .filter((l) => l.includes(`port="${PORT}"`) && (pod === undefined || l.includes(`pod="${pod}"`)))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
  const seriesOf = async (type: "xdp" | "socket", namespace: string, ebpfmap: string) =>
    (await families())
      .split("\n")
      .filter((l) => l.startsWith(`${METRIC[type]}{`) && l.includes(`namespace="${namespace}"`) && l.includes(`ebpfmap="${ebpfmap}"`));
  const podPins = (namespace: string, name: string): string[] => {
    const dir = join(pinRoot, namespace, name);
    if (!existsSync(dir)) return [];
    return readdirSync(dir).flatMap((generation) => readdirSync(join(dir, generation)).filter((e) => e.startsWith("pod_")));
  };
  const loadedMessage = (namespace: string, name: string) => status(namespace, name)?.conditions.find((c) => c.type === "Loaded")?.message ?? "";

  /** Sends `n` datagrams from the node to the pod's address on PORT (nobody listens: the programs count them on the way in). */
  async function sendTo(pod: NetworkedPod, n: number): Promise<void> {
    const socket = createSocket("udp4");
    try {
      for (let i = 0; i < n; i++) {
        await new Promise<void>((resolve, reject) => socket.send(Buffer.alloc(16, 120), PORT, pod.network.podAddress, (e) => (e ? reject(e) : resolve())));
      }
    } finally {
      socket.close();
    }
  }

  /** Waits for a counter (one pod's, or the resource's total) to reach `expected`, then checks it stays there (nothing else is counted late). */
  async function expectCount(type: "xdp" | "socket", namespace: string, ebpfmap: string, expected: number, pod?: string): Promise<void> {
    await until(
      `${namespace}/${ebpfmap}${pod ? ` pod ${pod}` : ""} counting ${expected}`,
      () => count(type, namespace, ebpfmap, pod),
      (v) => v >= expected,
      5000,
    ).catch(() => undefined);
    await sleep(200);
    expect(await count(type, namespace, ebpfmap, pod)).toBe(expected);
  }

  /** The pod names a resource's series carry. */
  const podsOf = async (type: "xdp" | "socket", namespace: string, ebpfmap: string) =>
    [...new Set((await seriesOf(type, namespace, ebpfmap)).map((l) => /pod="([^"]*)"/.exec(l)?.[1] ?? "(none)"))].sort();

  /** The gate's description suffix for a pod: its cgroup id. */
  const gated = (pod: NetworkedPod) => `(gate: pod cgroup id ${statSync(pod.podDir, { bigint: true }).ino})`;

  async function newAgent(): Promise<Agent> {
    const container = await createAgentContainer({ pinRoot, cacheDir, plugins: [] }, createLogger({ level: "silent" }));
    container.bind(PLUGIN).toConstantValue(xdpPlugin);
    container.bind(PLUGIN).toConstantValue(socketPlugin);
    // Pods from the test's "API server"; cgroups and network namespaces from the kernel, found for real.
    container.rebind(TOKENS.Pods).toConstantValue({ ...defaultPodScope(pods), intervalMs: 500, standalone: false });
    const registry = container.get(TOKENS.Families);
    families = () => registryText(registry);
    return container.get(TOKENS.Agent);
  }

  beforeAll(async () => {
    const mount = await findCgroup2Mount();
    if (!mount) throw new Error("kernel tests need a cgroup v2 hierarchy");
    layout = new KubeletLayout(join(mount, `eop-test-podnet-${process.pid}`));
    // Two tenants with pods labelled alike.
    alice = await layout.makeNetworkedPod("alice", "web-a1", "cgroupfs", { subnet: SUBNET });
    bob = await layout.makeNetworkedPod("bob", "web-b1", "systemd", { subnet: SUBNET });
    pods.set(alice.info);
    pods.set(bob.info);
    agent = await newAgent();
  });

  afterAll(async () => {
    await agent?.sync([]).catch(() => undefined);
    await agent?.shutdown().catch(() => undefined);
    await layout?.remove();
    rmSync(pinRoot, { recursive: true, force: true });
    rmSync(cacheDir, { recursive: true, force: true });
    // Cleanup itself is checked: nothing of the test is left in the kernel's trees.
    expect(existsSync(layout.top)).toBe(false);
    expect(existsSync(pinRoot)).toBe(false);
    expect(existsSync(`/run/netns/${alice?.network.netns}`)).toBe(false);
  });

  it("attaches alice's XDP program behind her pod's gate inside her pod's network namespace only, and counts exactly her pod's packets under pod=<name>", async () => {
    await agent.sync([manifest("alice", "xdp", "xdp")]);
    expect(status("alice", "xdp")).toMatchObject({ phase: "Running" });
    const id = programId("alice", "xdp");
    const ifindex = ifindexIn(alice.network.netns, "eth0");
    expect(status("alice", "xdp")?.program?.attachments).toEqual([
      `pod alice/web-a1: xdp eth0 (ifindex ${ifindex} in the pod's network namespace, generic mode) ${gated(alice)}`,
    ]);
    // What runs on her eth0 is the agent's gate, which tail-calls her program (never attached itself).
    const gate = xdpOn("eth0", alice.network.netns)!;
    expect(gate).not.toBe(id);
    expect(gateOf(gate)).toEqual({ name: "eop_pod_netgate", calls: [id] });
    expect(xdpOn("eth0", bob.network.netns)).toBeUndefined();
    // Not the host side of either veth, nor any interface of the node.
    expect(nodeXdpPrograms()).not.toContain(id);
    expect(nodeXdpPrograms()).not.toContain(gate);
    expect(podPins("alice", "xdp")).toEqual([`pod_${alice.info.uid}_0_0`]);

    await sendTo(alice, 20);
    await sendTo(bob, 30);
    await expectCount("xdp", "alice", "xdp", 20, "web-a1");
    expect(await seriesOf("xdp", "alice", "xdp")).toEqual([expect.stringMatching(new RegExp(`pod="web-a1".*port="${PORT}"|port="${PORT}".*pod="web-a1"`))]);
  });

  it("attack: bob's selector names alice's labels and reaches only bob's own pod", async () => {
    await agent.sync([manifest("alice", "xdp", "xdp"), manifest("bob", "xdp", "xdp")]);
    expect(status("bob", "xdp")).toMatchObject({ phase: "Running" });
    expect(gateOf(xdpOn("eth0", bob.network.netns)!).calls).toEqual([programId("bob", "xdp")]);
    expect(gateOf(xdpOn("eth0", alice.network.netns)!).calls).toEqual([programId("alice", "xdp")]);
    expect(status("bob", "xdp")?.program?.attachments).toEqual([expect.stringMatching(/^pod bob\/web-b1: xdp eth0 /)]);
    await sendTo(alice, 5);
    await sendTo(bob, 7);
    await expectCount("xdp", "bob", "xdp", 7, "web-b1");
    await expectCount("xdp", "alice", "xdp", 25, "web-a1");
    expect(await podsOf("xdp", "bob", "xdp")).toEqual(["web-b1"]);
    expect(await podsOf("xdp", "alice", "xdp")).toEqual(["web-a1"]);
  });

  it("runs alice's socket filter on a packet socket inside her pod's namespace: exactly her pod's packets", async () => {
    await agent.sync([manifest("alice", "xdp", "xdp"), manifest("bob", "xdp", "xdp"), manifest("alice", "sock", "socket")]);
    expect(status("alice", "sock")).toMatchObject({ phase: "Running" });
    const ifindex = ifindexIn(alice.network.netns, "eth0");
    expect(status("alice", "sock")?.program?.attachments).toEqual([
      expect.stringMatching(
        new RegExp(
          `^pod alice/web-a1: socket filter on eth0 in the pod's network namespace \\(ifindex ${ifindex}, AF_PACKET fd \\d+\\) \\(gate: pod cgroup id \\d+\\)$`,
        ),
      ),
    ]);
    // The agent's packet socket lives in alice's namespace, bound to her eth0; none in bob's.
    expect(packetSocketIfindexes(alice.network.netns)).toEqual([ifindex]);
    expect(packetSocketIfindexes(bob.network.netns)).toEqual([]);
    expect(status("alice", "sock")?.program?.attachments?.[0]).toContain(gated(alice));
    await sendTo(alice, 11);
    await sendTo(bob, 13);
    await expectCount("socket", "alice", "sock", 11, "web-a1");
    expect(await podsOf("socket", "alice", "sock")).toEqual(["web-a1"]);
    await expectCount("xdp", "alice", "xdp", 36);
    await expectCount("xdp", "bob", "xdp", 20);
  });

  it("eop_pod_cgroup_id compiles with vmlinux.h too (the kernel's own struct __sk_buff)", async () => {
    const code = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <ebpf-operator/metrics.h>
#include <ebpf-operator/pod.h>
${MAP.replaceAll("struct key", "struct pod_key") /* vmlinux.h has a struct key (the keyring's) */}
SEC("socket")
int count_udp(struct __sk_buff *skb) {
  struct pod_key key = { .cgroup = eop_pod_cgroup_id(skb), .port = ${PORT} };
  if (skb->pkt_type != 4 /* PACKET_OUTGOING */) EOP_COUNTER_INC(udp_packets, key);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;
    await agent.sync([
      manifest("alice", "xdp", "xdp"),
      manifest("bob", "xdp", "xdp"),
      manifest("alice", "sock", "socket"),
      manifest("alice", "sock-btf", "socket", { code }),
    ]);
    expect(status("alice", "sock-btf")?.lastError?.message).toBeUndefined();
    expect(status("alice", "sock-btf")).toMatchObject({ phase: "Running" });
    await sendTo(alice, 3);
    await until(
      "alice's frames counted",
      () => count("socket", "alice", "sock-btf", "web-a1"),
      (n) => n >= 3,
      5000,
    );
    expect(await podsOf("socket", "alice", "sock-btf")).toEqual(["web-a1"]);
  });

  it("attack: bob's programs write alice's pod's cgroup id where the gate put theirs (XDP metadata, skb->cb) and key rows by it and by a made-up id: only bob's own pod is named", async () => {
    const aliceId = statSync(alice.podDir, { bigint: true }).ino;
    const forging = [
      manifest("bob", "forge-xdp", "xdp", { code: forgingCode("xdp", aliceId) }),
      manifest("bob", "forge-sock", "socket", { code: forgingCode("socket", aliceId) }),
    ];
    // One XDP program per interface and mode: bob's own counter makes room for the forging one first.
    const others = [manifest("alice", "xdp", "xdp"), manifest("alice", "sock", "socket")];
    await agent.sync(others);
    await agent.sync([...others, ...forging]);
    for (const name of ["forge-xdp", "forge-sock"]) expect(status("bob", name)).toMatchObject({ phase: "Running" });
    const aliceXdp = await count("xdp", "alice", "xdp");
    await sendTo(bob, 8);
    await sendTo(alice, 2);
    await expectCount("xdp", "bob", "forge-xdp", 8, "web-b1");
    await expectCount("socket", "bob", "forge-sock", 8, "web-b1");
    // The forged rows exist in bob's maps (the attack ran: three keys per port) ...
    for (const name of ["forge-xdp", "forge-sock"]) {
      const dir = join(pinRoot, "bob", name);
      const [generation] = readdirSync(dir);
      const rows = JSON.parse(
        execFileSync("bpftool", ["-j", "map", "dump", "pinned", join(dir, generation!, "map_udp_packets")], { encoding: "utf8" }),
      ) as unknown[];
      expect(rows).toHaveLength(3);
    }
    // ... and none of them is a series: bob's pod table names his own pod only.
    expect(await podsOf("xdp", "bob", "forge-xdp")).toEqual(["web-b1"]);
    expect(await podsOf("socket", "bob", "forge-sock")).toEqual(["web-b1"]);
    expect(await seriesOf("xdp", "bob", "forge-xdp")).toHaveLength(1);
    expect(await seriesOf("socket", "bob", "forge-sock")).toHaveLength(1);
    expect((await families()).split("\n").filter((l) => l.includes('namespace="bob"') && l.includes('pod="web-a1"'))).toEqual([]);
    // alice's own counts are her packets only.
    await expectCount("xdp", "alice", "xdp", aliceXdp + 2);
    await agent.sync(others);
    await agent.sync([manifest("alice", "xdp", "xdp"), manifest("bob", "xdp", "xdp"), manifest("alice", "sock", "socket")]);
    expect(status("bob", "xdp")).toMatchObject({ phase: "Running" });
  });

  it("attack: a pod on the node's network (hostNetwork) is refused with the reason; nothing attaches to the node's interfaces", async () => {
    const host = await layout.makeNetworkedPod("alice", "web-host", "cgroupfs", { subnet: SUBNET, hostNetwork: true });
    try {
      pods.set(host.info);
      await until(
        "the hostNetwork pod reported",
        () => loadedMessage("alice", "xdp"),
        (m) => m.includes("web-host"),
      );
      expect(loadedMessage("alice", "xdp")).toMatch(
        /attached to 1 pod\(s\): web-a1; not attached to web-host: it uses the node's network \(hostNetwork\), and a pod-scoped program attaches only to a pod's own interfaces, never the node's/,
      );
      await until(
        "the socket resource reports it too",
        () => loadedMessage("alice", "sock"),
        (m) => m.includes("not attached to web-host"),
      );
      expect(podPins("alice", "xdp")).toEqual([`pod_${alice.info.uid}_0_0`]);
      expect(nodeXdpPrograms()).not.toContain(programId("alice", "xdp"));
      // The agent made no packet socket in the node's namespace: the test process's namespace lists none bound anywhere by it.
      expect(status("alice", "sock")?.program?.attachments).toHaveLength(1);
      expect(status("alice", "xdp")).toMatchObject({ phase: "Running" });
    } finally {
      pods.delete(host.info.uid);
      await layout.removeNetwork(host.network);
      await layout.removePod(host);
    }
    await until(
      "the note gone",
      () => loadedMessage("alice", "xdp"),
      (m) => !m.includes("web-host"),
    );
  });

  it("attack: a pod that renames its interface and makes others (named eth0, and like a node interface) cannot move the attachment", async () => {
    const carol = await layout.makeNetworkedPod("alice", "web-c1", "cgroupfs", { subnet: SUBNET, labels: { app: "later" } });
    try {
      const ns = carol.network.netns;
      const ip = (...args: string[]) => execFileSync("ip", ["-n", ns, ...args], { stdio: "pipe" });
      // What a container with CAP_NET_ADMIN can do in its own namespace.
      ip("link", "set", "eth0", "down");
      ip("link", "set", "eth0", "name", "real0");
      ip("link", "set", "real0", "up");
      // A veth pair inside: one end named eth0, the other like a node interface (alice's host end).
      ip("link", "add", "eth0", "type", "veth", "peer", "name", alice.network.hostIf);
      ip("link", "add", "inner0", "type", "veth", "peer", "name", "inner1");
      for (const name of ["eth0", alice.network.hostIf, "inner0", "inner1"]) ip("link", "set", name, "up");
      const real = ifindexIn(ns, "real0");
      pods.set({ ...carol.info, labels: { app: "web" } });
      const started = Date.now();
      await until(
        "carol's pod attached",
        () => podPins("alice", "xdp").length,
        (n) => n === 2,
      );
      expect(Date.now() - started).toBeLessThan(5000);
      const id = programId("alice", "xdp");
      expect(gateOf(xdpOn("real0", ns)!).calls).toEqual([id]);
      for (const name of ["eth0", alice.network.hostIf, "inner0", "inner1"]) expect(xdpOn(name, ns)).toBeUndefined();
      expect(xdpOn(alice.network.hostIf)).toBeUndefined(); // the node's interface of that name
      expect(nodeXdpPrograms()).not.toContain(id);
      await until(
        "carol's socket",
        () => packetSocketIfindexes(ns),
        (s) => s.length === 1,
      );
      expect(packetSocketIfindexes(ns)).toEqual([real]);
      const before = await count("xdp", "alice", "xdp");
      await sendTo(carol, 4);
      await expectCount("xdp", "alice", "xdp", before + 4);
    } finally {
      pods.delete(carol.info.uid);
      await until(
        "carol's pod detached",
        () => podPins("alice", "xdp").length,
        (n) => n === 1,
      );
      await layout.removeNetwork(carol.network);
      await layout.removePod(carol);
    }
  });

  it("follows churn: a new pod is attached within seconds and counted under its own name (two pods of alice, one of bob); a deleted pod's attachments, pins and series go", async () => {
    const dave = await layout.makeNetworkedPod("alice", "web-a2", "systemd", { subnet: SUBNET });
    try {
      const started = Date.now();
      pods.set(dave.info);
      await until(
        "the new pod attached (xdp)",
        () => xdpOn("eth0", dave.network.netns),
        (id) => id !== undefined && gateOf(id).calls[0] === programId("alice", "xdp"),
      );
      await until(
        "the new pod attached (socket)",
        () => packetSocketIfindexes(dave.network.netns).length,
        (n) => n === 1,
      );
      expect(Date.now() - started).toBeLessThan(5000);
      expect(podPins("alice", "xdp").sort()).toEqual([`pod_${alice.info.uid}_0_0`, `pod_${dave.info.uid}_0_0`].sort());
      // Each pod has a gate of its own (its own cgroup id), both calling alice's one program.
      expect(xdpOn("eth0", dave.network.netns)).not.toBe(xdpOn("eth0", alice.network.netns));
      const [xdpBefore, sockBefore] = [await count("xdp", "alice", "xdp"), await count("socket", "alice", "sock")];
      const [xdpA1, sockA1, xdpB1] = [
        await count("xdp", "alice", "xdp", "web-a1"),
        await count("socket", "alice", "sock", "web-a1"),
        await count("xdp", "bob", "xdp", "web-b1"),
      ];
      await sendTo(dave, 6);
      await sendTo(alice, 4);
      await sendTo(bob, 5);
      // Exactly each of her pods' packets under its own name, nothing of bob's in hers.
      await expectCount("xdp", "alice", "xdp", 6, "web-a2");
      await expectCount("xdp", "alice", "xdp", xdpA1 + 4, "web-a1");
      await expectCount("socket", "alice", "sock", 6, "web-a2");
      await expectCount("socket", "alice", "sock", sockA1 + 4, "web-a1");
      await expectCount("xdp", "alice", "xdp", xdpBefore + 10);
      await expectCount("socket", "alice", "sock", sockBefore + 10);
      expect(await podsOf("xdp", "alice", "xdp")).toEqual(["web-a1", "web-a2"]);
      expect(await podsOf("socket", "alice", "sock")).toEqual(["web-a1", "web-a2"]);
      await expectCount("xdp", "bob", "xdp", xdpB1 + 5, "web-b1");
      expect(await podsOf("xdp", "bob", "xdp")).toEqual(["web-b1"]);

      // The pod goes: the API server drops it (its namespace still exists a moment, as when the kubelet tears it down).
      pods.delete(dave.info.uid);
      await until(
        "the deleted pod's pins removed",
        () => podPins("alice", "xdp"),
        (p) => p.length === 1,
      );
      expect(podPins("alice", "xdp")).toEqual([`pod_${alice.info.uid}_0_0`]);
      expect(xdpOn("eth0", dave.network.netns)).toBeUndefined();
      await until(
        "the deleted pod's socket closed",
        () => packetSocketIfindexes(dave.network.netns).length,
        (n) => n === 0,
      );
      await sendTo(dave, 9);
      // Its series are gone (its cgroup id is out of the resource's pod table), her other pod's stay.
      expect(await podsOf("xdp", "alice", "xdp")).toEqual(["web-a1"]);
      expect(await podsOf("socket", "alice", "sock")).toEqual(["web-a1"]);
      await expectCount("xdp", "alice", "xdp", xdpA1 + 4);
      await expectCount("socket", "alice", "sock", sockA1 + 4);
      expect(status("alice", "xdp")?.program?.attachments).toEqual([expect.stringMatching(/^pod alice\/web-a1: /)]);
    } finally {
      pods.delete(dave.info.uid);
      await layout.removeNetwork(dave.network);
      await layout.removePod(dave);
    }
  });

  it("a restarted agent adopts the pinned XDP link (its gate still calling the program) and attaches the socket filter again behind a new gate: counters and pod names kept", async () => {
    const [xdpBefore, sockBefore] = [await count("xdp", "alice", "xdp", "web-a1"), await count("socket", "alice", "sock", "web-a1")];
    const id = programId("alice", "xdp");
    const gate = xdpOn("eth0", alice.network.netns)!;
    const resources = [manifest("alice", "xdp", "xdp"), manifest("bob", "xdp", "xdp"), manifest("alice", "sock", "socket")];
    await agent.shutdown();
    expect(xdpOn("eth0", alice.network.netns)).toBe(gate); // pinned: still running while no agent runs
    expect(gateOf(gate).calls).toEqual([id]); // the program array is pinned: not emptied when the agent's fds closed
    expect(packetSocketIfindexes(alice.network.netns)).toEqual([]); // a socket cannot be pinned
    await sendTo(alice, 3); // counted by XDP only
    agent = await newAgent();
    await agent.sync(resources);
    expect(status("alice", "xdp")).toMatchObject({ phase: "Running", program: { adopted: true, id } });
    expect(status("alice", "sock")).toMatchObject({ phase: "Running", program: { adopted: true } });
    expect(xdpOn("eth0", alice.network.netns)).toBe(gate);
    expect(packetSocketIfindexes(alice.network.netns)).toEqual([ifindexIn(alice.network.netns, "eth0")]);
    await expectCount("xdp", "alice", "xdp", xdpBefore + 3, "web-a1");
    await sendTo(alice, 5);
    await expectCount("xdp", "alice", "xdp", xdpBefore + 8, "web-a1");
    await expectCount("socket", "alice", "sock", sockBefore + 5, "web-a1");
    expect(await podsOf("socket", "alice", "sock")).toEqual(["web-a1"]);
  });

  it("an adopted XDP link on a device the pod no longer has (its veth made anew while no agent ran) is detached, and the pod attached anew to its new eth0: counters kept", async () => {
    const before = await count("xdp", "alice", "xdp", "web-a1");
    const id = programId("alice", "xdp");
    const gate = xdpOn("eth0", alice.network.netns)!;
    const resources = [manifest("alice", "xdp", "xdp"), manifest("bob", "xdp", "xdp"), manifest("alice", "sock", "socket")];
    await agent.shutdown();
    // What a CNI plugin does when it sets a pod's network up again: a new veth pair, same addresses.
    const { netns, hostIf, hostAddress, podAddress } = alice.network;
    const oldIfindex = ifindexIn(netns, "eth0");
    const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });
    ip("link", "del", hostIf);
    ip("link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", netns);
    execFileSync("sysctl", ["-q", "-w", `net.ipv6.conf.${hostIf}.disable_ipv6=1`]);
    ip("netns", "exec", netns, "sysctl", "-q", "-w", "net.ipv6.conf.eth0.disable_ipv6=1");
    ip("addr", "add", `${hostAddress}/30`, "dev", hostIf);
    ip("link", "set", hostIf, "up");
    ip("-n", netns, "addr", "add", `${podAddress}/30`, "dev", "eth0");
    ip("-n", netns, "link", "set", "eth0", "up");
    expect(xdpOn("eth0", netns)).toBeUndefined(); // the pinned link went with the old device
    agent = await newAgent();
    await agent.sync(resources);
    expect(status("alice", "xdp")).toMatchObject({ phase: "Running", program: { adopted: true, id } });
    const fresh = await until(
      "alice's new eth0 behind a gate calling her adopted program",
      () => xdpOn("eth0", netns),
      (g) => g !== undefined && gateOf(g).calls[0] === id,
    );
    expect(fresh).not.toBe(gate);
    expect(status("alice", "xdp")?.program?.attachments).toEqual([
      `pod alice/web-a1: xdp eth0 (ifindex ${ifindexIn(netns, "eth0")} in the pod's network namespace, generic mode) ${gated(alice)}`,
    ]);
    expect(ifindexIn(netns, "eth0")).not.toBe(oldIfindex);
    expect(podPins("alice", "xdp")).toEqual([`pod_${alice.info.uid}_0_0`]);
    await sendTo(alice, 4);
    await expectCount("xdp", "alice", "xdp", before + 4, "web-a1");
  });

  it("a pod whose cgroup was made anew under its UID while no agent ran gets, at adoption, a gate naming its new cgroup id (the pinned gate names the old one)", async () => {
    const id = programId("alice", "xdp");
    const gate = xdpOn("eth0", alice.network.netns)!;
    const oldCgroup = statSync(alice.podDir, { bigint: true }).ino;
    const resources = [manifest("alice", "xdp", "xdp"), manifest("bob", "xdp", "xdp"), manifest("alice", "sock", "socket")];
    await agent.shutdown();
    // The pod's cgroups removed and made again (new ids), its sandbox process moved back in.
    const sandbox = String(alice.network.process.pid);
    writeFileSync(join(layout.top, "cgroup.procs"), sandbox);
    rmdirSync(alice.containerDir);
    rmdirSync(alice.podDir);
    mkdirSync(alice.podDir);
    mkdirSync(alice.containerDir);
    writeFileSync(join(alice.containerDir, "cgroup.procs"), sandbox);
    expect(statSync(alice.podDir, { bigint: true }).ino).not.toBe(oldCgroup);
    agent = await newAgent();
    await agent.sync(resources);
    expect(status("alice", "xdp")).toMatchObject({ phase: "Running", program: { adopted: true, id } });
    await until(
      "alice's pod behind a gate for its new cgroup id",
      () => status("alice", "xdp")?.program?.attachments ?? [],
      (a) => a.length === 1 && a[0]!.endsWith(gated(alice)),
    );
    const fresh = xdpOn("eth0", alice.network.netns)!;
    expect(fresh).not.toBe(gate);
    expect(gateOf(fresh).calls).toEqual([id]);
    expect(podPins("alice", "xdp")).toEqual([`pod_${alice.info.uid}_0_0`]);
    // Her packets are counted under her pod's name again: keyed by the id the pod table knows.
    await sendTo(alice, 4);
    await expectCount("xdp", "alice", "xdp", 4, "web-a1");
  });

  it("a generation pinned before network gates (no gate_calls pin) is loaded again, not half adopted: the pods get gates and their rows their names", async () => {
    const id = programId("alice", "xdp");
    const resources = [manifest("alice", "xdp", "xdp"), manifest("bob", "xdp", "xdp"), manifest("alice", "sock", "socket")];
    await agent.shutdown();
    const dir = join(pinRoot, "alice", "xdp");
    const [generation] = readdirSync(dir);
    rmSync(join(dir, generation!, "gate_calls"));
    agent = await newAgent();
    await agent.sync(resources);
    expect(status("alice", "xdp")).toMatchObject({ phase: "Running", program: { adopted: false } });
    const fresh = programId("alice", "xdp");
    expect(fresh).not.toBe(id);
    await until(
      "alice's pod attached again behind a gate calling the new program",
      () => {
        const gate = xdpOn("eth0", alice.network.netns);
        return gate === undefined ? undefined : gateOf(gate).calls[0];
      },
      (calls) => calls === fresh,
    );
    expect(readdirSync(dir)).toHaveLength(1); // the stale generation is gone
    const before = await count("xdp", "alice", "xdp", "web-a1");
    await sendTo(alice, 4);
    await expectCount("xdp", "alice", "xdp", before + 4, "web-a1");
  });

  it("an XDP program the gate cannot tail-call (xdp.frags: the program array takes only programs like its first) fails the resource with the kernel's reason, attached nowhere", async () => {
    const frags = manifest("alice", "frags", "xdp", { code: XDP_CODE.replace('SEC("xdp")', 'SEC("xdp.frags")') });
    await agent.sync([manifest("alice", "sock", "socket"), frags]);
    expect(status("alice", "frags")).toMatchObject({ phase: "Failed", lastError: { code: "EOP_ERR_LOAD_FAILED" } });
    expect(status("alice", "frags")?.lastError?.message).toMatch(/load the pod-scope network gate of program "count_udp" of EbpfMap "alice\/frags"/);
    expect(xdpOn("eth0", alice.network.netns)).toBeUndefined();
    expect(existsSync(join(pinRoot, "alice", "frags"))).toBe(false);
    expect(status("alice", "sock")).toMatchObject({ phase: "Running" });
  });

  it("refuses an interface name as a pod-scoped target, and * without a selector (it names no node interface)", async () => {
    await agent.sync([
      manifest("alice", "xdp", "xdp"),
      manifest("alice", "named", "xdp", { target: "xdp/eth0" }),
      manifest("alice", "named-sock", "socket", { target: "sockfilter/eth0" }),
      (() => {
        const m = manifest("alice", "star-node", "socket");
        delete (m.resource.spec as { selector?: unknown }).selector;
        return m;
      })(),
    ]);
    expect(status("alice", "named")).toMatchObject({ phase: "Failed", lastError: { code: "EOP_ERR_TARGET_INVALID" } });
    expect(status("alice", "named")?.lastError?.message).toMatch(
      /with spec\.selector the program attaches to each selected pod's own interfaces.*the target must be "\*"/,
    );
    expect(status("alice", "named-sock")?.lastError?.message).toMatch(/with spec\.selector the filter runs on each selected pod's own interfaces/);
    expect(status("alice", "star-node")?.lastError?.message).toMatch(/socket target "\*" means each selected pod's own interfaces: it needs spec\.selector/);
    expect(nodeXdpPrograms()).not.toContain(programId("alice", "xdp"));
  });

  it("runs examples/pod-xdp-packets.yaml and examples/pod-socket-bytes.yaml as shipped (in alice's namespace): her pod's UDP packets and bytes, none of bob's", async () => {
    const shipped = ["pod-xdp-packets.yaml", "pod-socket-bytes.yaml"].flatMap((file) => {
      const parsed = parseManifests(example(file).replace(/^metadata:\n/m, "metadata:\n  namespace: alice\n"), file);
      expect(parsed.problems).toEqual([]);
      return parsed.resources;
    });
    await agent.sync(shipped);
    for (const name of ["pod-xdp-packets", "pod-socket-bytes"]) {
      expect(status("alice", name)).toMatchObject({ phase: "Running" });
      expect(status("alice", name)?.program?.attachments).toEqual([expect.stringMatching(/^pod alice\/web-a1: /)]);
    }
    expect(gateOf(xdpOn("eth0", alice.network.netns)!).calls).toEqual([programId("alice", "pod-xdp-packets")]);
    expect(xdpOn("eth0", bob.network.netns)).toBeUndefined();
    expect(packetSocketIfindexes(bob.network.netns)).toEqual([]);
    const udp = async (metric: string, ebpfmap: string) =>
      sampleValue(await families(), metric, { namespace: "alice", ebpfmap, pod: "web-a1", protocol: "udp" }) ?? 0;
    await sendTo(alice, 12);
    await sendTo(bob, 9);
    // A frame is 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + 16 (payload) bytes.
    await until(
      "alice's 12 datagrams counted by XDP",
      () => udp("pod_xdp_packets_total", "pod-xdp-packets"),
      (v) => v >= 12,
      5000,
    );
    await until(
      "and by the socket filter",
      () => udp("pod_socket_bytes_total", "pod-socket-bytes"),
      (v) => v >= 12 * 58,
      5000,
    );
    await sleep(300);
    expect(await udp("pod_xdp_packets_total", "pod-xdp-packets")).toBe(12);
    expect(await udp("pod_socket_bytes_total", "pod-socket-bytes")).toBe(12 * 58);
  });

  it("in native mode on the pod's veth (xdp/*, native first) the gate's metadata reaches the program too", async () => {
    await agent.sync([]);
    await agent.sync([manifest("alice", "xdp-native", "xdp", { target: "xdp/*" })]);
    expect(status("alice", "xdp-native")).toMatchObject({ phase: "Running" });
    expect(status("alice", "xdp-native")?.program?.attachments).toEqual([
      expect.stringMatching(/^pod alice\/web-a1: xdp eth0 .*native mode\) \(gate: pod cgroup id \d+\)$/),
    ]);
    await sendTo(alice, 7);
    await sendTo(bob, 3);
    await expectCount("xdp", "alice", "xdp-native", 7, "web-a1");
    expect(await podsOf("xdp", "alice", "xdp-native")).toEqual(["web-a1"]);
  });

  it("deleting the resources detaches every pod and leaves no pins", async () => {
    await agent.sync([]);
    expect(xdpOn("eth0", alice.network.netns)).toBeUndefined();
    expect(xdpOn("eth0", bob.network.netns)).toBeUndefined();
    expect(packetSocketIfindexes(alice.network.netns)).toEqual([]);
    expect(existsSync(join(pinRoot, "alice"))).toBe(false);
    expect(existsSync(join(pinRoot, "bob"))).toBe(false);
  });
});
