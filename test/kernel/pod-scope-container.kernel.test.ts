/**
 * Container scope (`spec.selector.container`) and the `container` label (issue 12) on the real
 * kernel, through the agent's own container (compiler, loader, the real cgroup, tracepoint and
 * xdp plugins, the real pod discovery).
 *
 * No kubelet runs in this project: the test lays out the kubelet's and containerd's cgroup v2
 * tree itself (test/helpers/kubelet-layout.ts, through test/helpers/pod-scope-agent.ts) — alice's pod under the cgroupfs driver, bob's
 * under systemd, each with two containers (`server`, `sidecar`) — and says which containers
 * "the kubelet" reports in each pod's status (their names and runtime ids) with a
 * StaticPodSource, as the cluster agent's node-local container watch does. Workloads: UDP on
 * loopback and perl's `syscall(39)` (getpid on x86_64), each from a process that first moves
 * itself into one container's cgroup. Everything is removed afterwards, pass or fail.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseManifests, type Agent, type ParsedManifest } from "@ebpf-operator/core";
import { cgroupPlugin } from "../../packages/plugin-cgroup/src/cgroup-plugin.js";
import { tracepointPlugin } from "../../packages/plugin-tracepoint/src/tracepoint-plugin.js";
import { xdpPlugin } from "../../packages/plugin-xdp/src/xdp-plugin.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import type { KubeletLayout } from "../helpers/kubelet-layout.js";
import { until, type FakeContainer, type FakePod } from "../helpers/kubelet-layout.js";
import { example } from "../helpers/manifests.js";
import { sampleValue } from "../helpers/metrics.js";
import { LoopbackSink, PodScopeAgent, ebpfMap } from "../helpers/pod-scope-agent.js";

requireKernelCapabilities();

const GETPID = 39; // x86_64

const EGRESS_CODE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <ebpf-operator/metrics.h>

struct key {
  u64 cgroup; /* the sending socket's cgroup id: a container's */
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 1024);
  __type(key, struct key);
  __type(value, u64); /* packets */
} egress SEC(".maps");

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb) {
  struct key key = { .cgroup = bpf_skb_cgroup_id(skb) };
  EOP_COUNTER_INC(egress, key);
  return 1;
}

char LICENSE[] SEC("license") = "GPL";
`;

const GETPID_CODE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <ebpf-operator/metrics.h>

struct key {
  u64 cgroup;
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 1024);
  __type(key, struct key);
  __type(value, u64);
} calls SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u64);
} seen SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_getpid(void *ctx) {
  u32 zero = 0;
  struct key key = { .cgroup = bpf_get_current_cgroup_id() };
  u64 *runs = bpf_map_lookup_elem(&seen, &zero);
  if (runs) __sync_fetch_and_add(runs, 1);
  EOP_COUNTER_INC(calls, key);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

const POD_LABEL = { name: "pod", field: "cgroup", decoders: [{ name: "uint" }, { name: "pod" }] };
const CONTAINER_LABEL = { name: "container", field: "cgroup", decoders: [{ name: "uint" }, { name: "container" }] };

/** A cgroup egress counter labelled by pod and container; `container`: selector.container. */
function egress(
  namespace: string,
  name: string,
  container?: string,
  { type = "cgroup", target = "cgroup/skb/egress:/", labels = [POD_LABEL, CONTAINER_LABEL] }: { type?: string; target?: string; labels?: unknown[] } = {},
): ParsedManifest {
  return ebpfMap(namespace, name, {
    type,
    target,
    program: "count_egress",
    selector: { matchLabels: { app: "web" }, ...(container ? { container } : {}) },
    metrics: [{ name: `${name.replaceAll("-", "_")}_packets`, help: "packets the container's sockets sent", type: "counter", map: "egress", labels }],
    code: EGRESS_CODE,
  });
}

/** A gated tracepoint counting getpid calls by pod and container. */
function getpid(namespace: string, name: string, container: string): ParsedManifest {
  return ebpfMap(namespace, name, {
    type: "tracepoint",
    target: "syscalls/sys_enter_getpid",
    program: "count_getpid",
    selector: { matchLabels: { app: "web" }, container },
    metrics: [
      { name: "tenant_getpid", help: "getpid calls of the container's tasks", type: "counter", map: "calls", labels: [POD_LABEL, CONTAINER_LABEL] },
      { name: "tenant_getpid_runs", help: "every run of the program", type: "counter", map: "seen" },
    ],
    code: GETPID_CODE,
  });
}

describe("container scope and the container label on the real kernel", () => {
  const env = new PodScopeAgent({ name: "podcontainer", plugins: [cgroupPlugin, tracepointPlugin, xdpPlugin], intervalMs: 300 });
  const { pods, families, status, value } = env;
  let kubelet: KubeletLayout;
  let sink: LoopbackSink;
  let agent: Agent;
  let alice: FakePod;
  let bob: FakePod;
  /** Each pod's containers by name (`server` is the pod's first container). */
  const containers = new Map<string, Map<string, FakeContainer>>();

  const cgroupId = (dir: string): bigint => BigInt(execFileSync("stat", ["-c", "%i", dir], { encoding: "utf8" }).trim());
  const dirOf = (pod: FakePod, name: string) => containers.get(pod.info.uid)!.get(name)!.dir;
  /** Says in the pod's "status" which containers run, with their current ids. */
  const report = (pod: FakePod) =>
    pods.setContainers(
      pod.info.uid,
      [...containers.get(pod.info.uid)!].map(([name, c]) => ({ name, id: c.id })),
    );

  /** Sends `count` datagrams from a process in `dir` (a container's cgroup); returns how many arrived. */
  const sendFrom = (dir: string, count: number) => sink.sendFrom(dir, count);

  /** Runs `count` getpid calls in a process that first moves itself into `dir` (undefined: the test's own cgroup). */
  function getpids(dir: string | undefined, count: number): void {
    const script = `if ($ARGV[0] ne "") { open(my $f, ">", "$ARGV[0]/cgroup.procs") or die "open: $!"; print $f $$; close($f) or die "move: $!"; } syscall(${GETPID}) for 1..$ARGV[1];`;
    const result = spawnSync("perl", ["-e", script, dir ?? "", String(count)], { stdio: "pipe" });
    if (result.status !== 0) throw new Error(`getpid workload failed: ${result.stderr.toString()}`);
  }

  const seriesOf = async (metric: string, namespace: string, ebpfmap: string) =>
    (await families())
      .split("\n")
      .filter((l) => l.startsWith(`${metric}{`) && l.includes(`namespace="${namespace}"`) && l.includes(`ebpfmap="${ebpfmap}"`))
      .map((l) => l.replace(/^[^{]*\{/, "").replace(/ebpfmap="[^"]*",?|namespace="[^"]*",?/g, ""))
      .sort();
  const loadedMessage = (namespace: string, name: string) => status(namespace, name)?.conditions.find((c) => c.type === "Loaded")?.message ?? "";
  /** Program ids attached to a cgroup directory itself. */
  const attachedTo = (dir: string): number[] => {
    const out = execFileSync("bpftool", ["cgroup", "show", dir, "-j"], { encoding: "utf8" }).trim();
    return out === "" ? [] : (JSON.parse(out) as { id: number }[]).map((p) => p.id);
  };
  /** The cgroup ids in a resource's pinned gate filter (bpftool's byte arrays, little-endian). */
  const filterIds = (namespace: string, name: string): bigint[] =>
    (
      JSON.parse(
        execFileSync("bpftool", ["map", "dump", "pinned", join(status(namespace, name)!.program!.pinDir, "gate_filter"), "-j"], { encoding: "utf8" }),
      ) as { key: string[] }[]
    )
      .map((e) => Buffer.from(e.key.map((b) => Number.parseInt(b, 16))).readBigUInt64LE(0))
      .sort();

  beforeAll(async () => {
    kubelet = await env.layout();
    sink = await LoopbackSink.open();
    alice = kubelet.makePod("alice", "web-a1", "cgroupfs");
    bob = kubelet.makePod("bob", "web-b1", "systemd");
    for (const pod of [alice, bob]) {
      containers.set(pod.info.uid, new Map([["server", { id: pod.containerId, dir: pod.containerDir }]]));
      containers.get(pod.info.uid)!.set("sidecar", kubelet.makeContainer(pod));
      pods.set(pod.info);
    }
    agent = await env.start();
  });

  afterAll(async () => {
    await sink?.close();
    await env.cleanup();
  });

  it("the container names are not asked for until a resource uses them; until the pod's status names the container, the pod is reported, then attached", async () => {
    await agent.sync([egress("alice", "plain", undefined, { labels: [POD_LABEL] })]);
    expect(pods.watchingContainers).toBe(false);
    await agent.sync([egress("alice", "server-egress", "server")]);
    expect(pods.watchingContainers).toBe(true);
    expect(status("alice", "server-egress")).toMatchObject({ phase: "Running" });
    expect(loadedMessage("alice", "server-egress")).toMatch(
      /attached to no pod; selected but not attached \(EOP_ERR_POD_CGROUP_NOT_FOUND\): web-a1: spec\.selector\.container: the pod's status names no running container "server"/,
    );
    report(alice);
    report(bob);
    await until(
      "attached to alice's server container",
      () => status("alice", "server-egress")?.program?.attachments ?? [],
      (a) => a.length === 1,
    );
    expect(status("alice", "server-egress")?.program?.attachments).toEqual([
      `pod alice/web-a1 container server (cgroup ${dirOf(alice, "server").slice(dirOf(alice, "server").indexOf("/eop-test-podcontainer-"))})`,
    ]);
  });

  it("a cgroup egress counter scoped to alice's server container counts exactly its packets: not the sidecar's, not bob's; rows labelled pod and container", async () => {
    const id = status("alice", "server-egress")!.program!.id;
    expect(attachedTo(dirOf(alice, "server"))).toEqual([id]);
    expect(attachedTo(dirOf(alice, "sidecar"))).toEqual([]);
    expect(attachedTo(alice.podDir)).toEqual([]);
    expect(attachedTo(dirOf(bob, "server"))).toEqual([]);
    expect(await sendFrom(dirOf(alice, "server"), 10)).toBe(10);
    expect(await sendFrom(dirOf(alice, "sidecar"), 7)).toBe(7);
    expect(await sendFrom(dirOf(bob, "server"), 5)).toBe(5);
    expect(await seriesOf("server_egress_packets_total", "alice", "server-egress")).toEqual(['pod="web-a1",container="server"} 10']);
  });

  it("a pod-scoped resource without selector.container labels each container of the pod by name", async () => {
    await agent.sync([egress("alice", "server-egress", "server"), egress("alice", "pod-egress")]);
    await until(
      "container names known",
      () => loadedMessage("alice", "pod-egress"),
      (m) => m.includes("attached to 1 pod(s): web-a1"),
    );
    expect(await sendFrom(dirOf(alice, "server"), 3)).toBe(3);
    expect(await sendFrom(dirOf(alice, "sidecar"), 4)).toBe(4);
    expect(await sendFrom(dirOf(bob, "sidecar"), 9)).toBe(9);
    expect(await seriesOf("pod_egress_packets_total", "alice", "pod-egress")).toEqual([
      'pod="web-a1",container="server"} 3',
      'pod="web-a1",container="sidecar"} 4',
    ]);
    expect(await value("server_egress_packets_total", "alice", "server-egress", { pod: "web-a1", container: "server" })).toBe(13);
  });

  it("a tracepoint scoped to alice's server container runs exactly for its getpid calls: not the sidecar's, not bob's, not the host's", async () => {
    await agent.sync([egress("alice", "server-egress", "server"), getpid("alice", "getpid", "server")]);
    await until(
      "gate lets alice's server through",
      () => status("alice", "getpid")?.program?.attachments ?? [],
      (a) => a.length === 1,
    );
    expect(filterIds("alice", "getpid")).toEqual([cgroupId(dirOf(alice, "server"))]);
    getpids(dirOf(alice, "server"), 50);
    getpids(dirOf(alice, "sidecar"), 40);
    getpids(dirOf(bob, "server"), 30);
    getpids(undefined, 20);
    expect(await seriesOf("tenant_getpid_total", "alice", "getpid")).toEqual(['pod="web-a1",container="server"} 50']);
    expect(await value("tenant_getpid_runs_total", "alice", "getpid")).toBe(50);
  });

  it("a node-wide tracepoint labels its rows by namespace, pod and container name (cgroup_container, a platform team's: crossNamespacePodLabels)", async () => {
    const nodeWide = ebpfMap("platform", "node-getpid", {
      type: "tracepoint",
      target: "syscalls/sys_enter_getpid",
      program: "count_getpid",
      metrics: [
        {
          name: "node_getpid",
          help: "getpid calls by pod and container",
          type: "counter",
          map: "calls",
          labels: [
            { name: "pod_namespace", field: "cgroup", decoders: [{ name: "uint" }, { name: "cgroup_namespace" }] },
            { name: "pod_name", field: "cgroup", decoders: [{ name: "uint" }, { name: "cgroup_pod" }] },
            { name: "container_name", field: "cgroup", decoders: [{ name: "uint" }, { name: "cgroup_container" }] },
          ],
        },
      ],
      code: GETPID_CODE,
    });
    await agent.sync([egress("alice", "server-egress", "server"), getpid("alice", "getpid", "server"), nodeWide]);
    expect(status("platform", "node-getpid")).toMatchObject({ phase: "Running" });
    const calls = (pod: string, container: string) => value("node_getpid_total", "platform", "node-getpid", { pod_name: pod, container_name: container });
    getpids(dirOf(alice, "sidecar"), 1);
    // The first decode starts the lookup; its scan answers the next scrapes.
    await until(
      "container names known",
      () => calls("web-a1", "sidecar"),
      (v) => v !== undefined,
    );
    const before = { a: (await calls("web-a1", "server")) ?? 0, b: (await calls("web-a1", "sidecar"))!, c: (await calls("web-b1", "server")) ?? 0 };
    getpids(dirOf(alice, "server"), 11);
    getpids(dirOf(alice, "sidecar"), 12);
    getpids(dirOf(bob, "server"), 13);
    getpids(undefined, 14); // the host's: no pod, no row
    expect(await calls("web-a1", "server")).toBe(before.a + 11);
    expect(await calls("web-a1", "sidecar")).toBe(before.b + 12);
    expect(await calls("web-b1", "server")).toBe(before.c + 13);
    expect(sampleValue(await families(), "node_getpid_total", { pod_namespace: "bob", pod_name: "web-b1", container_name: "server" })).toBe(before.c + 13);
    // Every row names a pod's container: the host's and other cgroups' ids are dropped.
    const rows = (await families()).split("\n").filter((l) => l.startsWith("node_getpid_total{"));
    for (const row of rows) expect(row).toMatch(/pod_namespace="(alice|bob)",pod_name="web-(a1|b1)",container_name="(server|sidecar)"/);
  });

  // The rows are keyed by cgroup id, and a restarted container is a new cgroup: its series goes on
  // under the same labels from zero (a counter reset, which rate() takes in its stride), and the
  // old instance's row, whose id no container has any more, is dropped.
  it("a restarted container (a new id, a new cgroup) is followed: detached from the old, attached to the new, counted under the same labels", async () => {
    const old = containers.get(alice.info.uid)!.get("server")!;
    // The container exits (its cgroup goes), the kubelet starts a new instance with a new id.
    await kubelet.removeContainer(old);
    const restarted = kubelet.makeContainer(alice);
    containers.get(alice.info.uid)!.set("server", restarted);
    report(alice);
    await until(
      "gate follows the restart",
      () => filterIds("alice", "getpid"),
      (ids) => ids.length === 1 && ids[0] === cgroupId(restarted.dir),
    );
    const id = status("alice", "server-egress")!.program!.id;
    await until(
      "cgroup program follows the restart",
      () => attachedTo(restarted.dir),
      (ids) => ids.includes(id),
    );
    expect(await sendFrom(restarted.dir, 6)).toBe(6);
    getpids(restarted.dir, 20);
    getpids(dirOf(alice, "sidecar"), 20);
    expect(await seriesOf("server_egress_packets_total", "alice", "server-egress")).toEqual(['pod="web-a1",container="server"} 6']);
    expect(await seriesOf("tenant_getpid_total", "alice", "getpid")).toEqual(['pod="web-a1",container="server"} 20']);
  });

  it("an agent restart adopts the container attachments; a container restarted while no agent ran is attached anew", async () => {
    const runs = (await value("tenant_getpid_runs_total", "alice", "getpid"))!;
    await agent.shutdown();
    const old = containers.get(alice.info.uid)!.get("server")!;
    await kubelet.removeContainer(old);
    const restarted = kubelet.makeContainer(alice);
    containers.get(alice.info.uid)!.set("server", restarted);
    report(alice);
    agent = await env.start();
    await agent.sync([egress("alice", "server-egress", "server"), getpid("alice", "getpid", "server")]);
    expect(status("alice", "server-egress")).toMatchObject({ phase: "Running", program: { adopted: true } });
    const id = status("alice", "server-egress")!.program!.id;
    await until(
      "adopted cgroup program re-attached to the new container",
      () => attachedTo(restarted.dir),
      (ids) => ids.includes(id),
    );
    await until(
      "adopted gate follows the new container",
      () => filterIds("alice", "getpid"),
      (ids) => ids.length === 1 && ids[0] === cgroupId(restarted.dir),
    );
    expect(await sendFrom(restarted.dir, 2)).toBe(2);
    getpids(restarted.dir, 5);
    expect(await seriesOf("server_egress_packets_total", "alice", "server-egress")).toEqual(['pod="web-a1",container="server"} 2']);
    expect(await seriesOf("tenant_getpid_total", "alice", "getpid")).toEqual(['pod="web-a1",container="server"} 5']);
    // The maps were adopted, not made anew: the program ran for every call, before and after.
    expect(await value("tenant_getpid_runs_total", "alice", "getpid")).toBe(runs + 5);
  });

  it("runs examples/pod-container-egress.yaml as shipped (in alice's namespace): her server container counted, not her sidecar, not bob's", async () => {
    const parsed = parseManifests(
      example("pod-container-egress.yaml").replace(/^metadata:\n/m, "metadata:\n  namespace: alice\n"),
      "pod-container-egress.yaml",
    );
    expect(parsed.problems).toEqual([]);
    await agent.sync([
      ...parsed.resources,
      {
        ...parsed.resources[0]!,
        ref: { namespace: "bob", name: "pod-container-egress" },
        resource: { ...parsed.resources[0]!.resource, metadata: { ...parsed.resources[0]!.resource.metadata, namespace: "bob" } },
      },
    ]);
    await until(
      "the example attached",
      () => status("alice", "pod-container-egress")?.program?.attachments ?? [],
      (a) => a.length === 1,
    );
    expect(await sendFrom(dirOf(alice, "server"), 4)).toBe(4);
    expect(await sendFrom(dirOf(alice, "sidecar"), 3)).toBe(3);
    expect(await sendFrom(dirOf(bob, "server"), 2)).toBe(2);
    expect(await seriesOf("pod_container_egress_packets_total", "alice", "pod-container-egress")).toEqual(['pod="web-a1",container="server"} 4']);
    expect(await seriesOf("pod_container_egress_packets_total", "bob", "pod-container-egress")).toEqual(['pod="web-b1",container="server"} 2']);
  });

  it("attack: selector.container on an xdp program is refused naming the field and why; nothing loads", async () => {
    await agent.sync([egress("alice", "server-egress", "server"), egress("alice", "xdp-container", "server", { type: "xdp", target: "xdp/*" })]);
    expect(status("alice", "xdp-container")).toMatchObject({ phase: "Failed", lastError: { code: "EOP_ERR_POD_SCOPE_UNSUPPORTED" } });
    expect(status("alice", "xdp-container")?.lastError?.message).toMatch(
      /^spec\.selector\.container: spec\.type "xdp" attaches to the pod's network interfaces, which all of a pod's containers share/,
    );
    expect(status("alice", "xdp-container")?.program).toBeUndefined();
  });
});
