/**
 * Pod-scoped cgroup programs (issue 12) on the real kernel, through the agent's own container
 * (compiler, loader, the real cgroup plugin, the real pod discovery of pods/).
 *
 * No kubelet runs in this project: the test lays out the kubelet's cgroup v2 tree itself, the
 * way the kubelet and containerd make it (test/helpers/kubelet-layout.ts, through the agent builder of
 * test/helpers/pod-scope-agent.ts) — alice's pods under
 * the cgroupfs driver, bob's under the systemd driver — below a cgroup of the test's own (as a
 * kubelet `cgroupRoot`), never the root cgroup, and
 * says which pods "the API server" lists on the node with a StaticPodSource (the cluster agent's
 * is the node's metadata-only pod informer). Traffic: UDP on loopback, from real processes put
 * in the pods' container cgroups. Everything (pins, cgroups, processes) is removed afterwards,
 * pass or fail.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, rmdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  PLUGIN,
  TOKENS,
  createAgentContainer,
  createLogger,
  parseManifests,
  formatFieldErrors,
  validateEbpfMapObject,
  registryText,
  type Agent,
  type ParsedManifest,
} from "@ebpf-operator/core";
import { cgroupPlugin } from "../../packages/plugin-cgroup/src/cgroup-plugin.js";
import { findCgroup2Mount } from "../../packages/plugin-cgroup/src/cgroup-mount.js";
import { xdpPlugin } from "../../packages/plugin-xdp/src/xdp-plugin.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import type { KubeletLayout } from "../helpers/kubelet-layout.js";
import { until, type FakePod } from "../helpers/kubelet-layout.js";
import { example } from "../helpers/manifests.js";
import { sampleValue } from "../helpers/metrics.js";
import { LoopbackSink, PodScopeAgent, ebpfMap } from "../helpers/pod-scope-agent.js";

requireKernelCapabilities();

const METRIC = "tenant_pod_packets_total";
const CODE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <ebpf-operator/metrics.h>

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 1024);
  __type(key, u64);   /* the sending socket's cgroup id: the pod's container */
  __type(value, u64); /* packets */
} egress SEC(".maps");

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb) {
  u64 cgroup = bpf_skb_cgroup_id(skb);
  EOP_COUNTER_INC(egress, cgroup);
  return 1;
}

char LICENSE[] SEC("license") = "GPL";
`;

function manifest(namespace: string, name: string, overrides: { selector?: unknown; target?: string; labels?: unknown } = {}): ParsedManifest {
  return ebpfMap(namespace, name, {
    type: "cgroup",
    target: overrides.target ?? "cgroup/skb/egress:/",
    program: "count_egress",
    selector: overrides.selector ?? { matchLabels: { app: "web" } },
    metrics: [
      {
        name: "tenant_pod_packets",
        help: "packets the pod's sockets sent",
        type: "counter",
        map: "egress",
        labels: overrides.labels ?? [{ name: "pod", decoders: [{ name: "uint" }, { name: "pod" }] }],
      },
    ],
    code: CODE,
  });
}

describe("pod-scoped cgroup programs on the real kernel", () => {
  const env = new PodScopeAgent({ name: "podscope", plugins: [cgroupPlugin, xdpPlugin] });
  const { pinRoot, cacheDir, pods, families, status } = env;
  let kubelet: KubeletLayout;
  let top: string;
  let sink: LoopbackSink;
  let agent: Agent;

  const makePod = (namespace: string, name: string, driver: "cgroupfs" | "systemd") => kubelet.makePod(namespace, name, driver);

  /** Sends `count` datagrams from a process in the pod's container cgroup; returns how many arrived. */
  const sendFrom = (pod: FakePod, count: number) => sink.sendFrom(pod.containerDir, count);

  const series = async (namespace: string, ebpfmap: string, pod: string) => sampleValue(await families(), METRIC, { namespace, ebpfmap, pod });
  const seriesOf = async (namespace: string, ebpfmap: string) =>
    (await families()).split("\n").filter((l) => l.startsWith(`${METRIC}{`) && l.includes(`namespace="${namespace}"`) && l.includes(`ebpfmap="${ebpfmap}"`));
  /** Program ids attached (egress) to a cgroup directory itself. */
  const attachedTo = (dir: string): number[] => {
    const out = execFileSync("bpftool", ["cgroup", "show", dir, "-j"], { encoding: "utf8" }).trim();
    return out === "" ? [] : (JSON.parse(out) as { id: number }[]).map((p) => p.id);
  };
  const podPins = (namespace: string, name: string): string[] => {
    const dir = join(pinRoot, namespace, name);
    if (!existsSync(dir)) return [];
    return readdirSync(dir).flatMap((generation) => readdirSync(join(dir, generation)).filter((e) => e.startsWith("pod_")));
  };

  let alice1: FakePod;
  let bob1: FakePod;
  let alice2: FakePod | undefined;

  beforeAll(async () => {
    // The test's kubelet cgroupRoot: a cgroup of its own, never the root cgroup.
    kubelet = await env.layout();
    top = kubelet.top;
    sink = await LoopbackSink.open();
    // Two tenants with pods labelled alike: alice's (cgroupfs driver) and bob's (systemd driver).
    alice1 = makePod("alice", "web-a1", "cgroupfs");
    bob1 = makePod("bob", "web-b1", "systemd");
    pods.set(alice1.info);
    pods.set(bob1.info);
    agent = await env.start();
  });

  afterAll(async () => {
    await sink?.close();
    // Cleanup itself is checked: nothing of the test is left in the kernel's trees.
    await env.cleanup();
  });

  it("attaches alice's program to her pod's cgroup only, and counts exactly her pod's packets under pod=<name>", async () => {
    await agent.sync([manifest("alice", "egress")]);
    expect(status("alice", "egress")).toMatchObject({ phase: "Running" });
    expect(status("alice", "egress")?.program?.attachments).toEqual([expect.stringMatching(/^pod alice\/web-a1 \(cgroup .*pod[0-9a-f-]+\)$/)]);
    const id = status("alice", "egress")!.program!.id;
    expect(attachedTo(alice1.podDir)).toEqual([id]);
    expect(attachedTo(bob1.podDir)).toEqual([]);
    expect(attachedTo(top)).toEqual([]);
    expect(podPins("alice", "egress")).toEqual([`pod_${alice1.info.uid}_0_0`]);

    expect(await sendFrom(alice1, 25)).toBe(25);
    expect(await sendFrom(bob1, 40)).toBe(40);
    expect(await series("alice", "egress", "web-a1")).toBe(25);
    // Bob's 40 packets are nowhere in alice's series.
    expect(await seriesOf("alice", "egress")).toEqual([expect.stringContaining('pod="web-a1"')]);
  });

  it("attack: bob's selector names alice's labels and reaches only bob's own pods (the selector is namespace-local)", async () => {
    await agent.sync([manifest("alice", "egress"), manifest("bob", "egress", { selector: { matchLabels: { app: "web" } } })]);
    expect(status("bob", "egress")).toMatchObject({ phase: "Running" });
    const bobId = status("bob", "egress")!.program!.id;
    const aliceId = status("alice", "egress")!.program!.id;
    expect(attachedTo(alice1.podDir)).toEqual([aliceId]);
    expect(attachedTo(bob1.podDir)).toEqual([bobId]);
    expect(status("bob", "egress")?.program?.attachments).toEqual([expect.stringMatching(/^pod bob\/web-b1 /)]);
    expect(await sendFrom(alice1, 10)).toBe(10);
    expect(await sendFrom(bob1, 7)).toBe(7);
    expect(await series("bob", "egress", "web-b1")).toBe(7);
    expect(await seriesOf("bob", "egress")).toEqual([expect.stringContaining('pod="web-b1"')]);
    expect(await series("alice", "egress", "web-a1")).toBe(35);
  });

  it("attack: a pod-scoped target naming a host cgroup path or a pod label a tenant writes are refused, and a container no pod runs attaches nowhere", async () => {
    await agent.sync([
      manifest("alice", "egress"),
      manifest("bob", "egress"),
      manifest("bob", "host-path", { target: "cgroup/skb/egress:/kubepods" }),
      manifest("bob", "spoof", {
        labels: [{ name: "pod", decoders: [{ name: "uint" }, { name: "pod" }, { name: "static_map", values: {}, default: "web-a1" }] }],
      }),
      manifest("bob", "container", { selector: { matchLabels: { app: "web" }, container: "app" } }),
    ]);
    expect(status("bob", "host-path")).toMatchObject({ phase: "Failed" });
    expect(status("bob", "host-path")?.lastError?.message).toMatch(
      /with spec\.selector the program attaches to each selected pod's own cgroup, so the path must be "\/"/,
    );
    // selector.container naming a container no selected pod runs: loaded, attached to no pod, and said per pod.
    expect(status("bob", "container")).toMatchObject({ phase: "Running" });
    expect(status("bob", "container")?.conditions.find((c) => c.type === "Loaded")?.message).toMatch(
      /attached to no pod; selected but not attached \(EOP_ERR_POD_CGROUP_NOT_FOUND\): web-b1: spec\.selector\.container: the pod's status names no running container "app"/,
    );
    // The decoder "pod" anywhere but last in the label pod: the label's value stays the agent's.
    // Refused by validation (what the API server's and the agent's manifest parsing run), and by
    // the agent's plan for a spec that skipped it (this one was handed to the agent directly).
    const spoof = manifest("bob", "spoof", {
      labels: [{ name: "pod", decoders: [{ name: "uint" }, { name: "pod" }, { name: "static_map", values: {}, default: "web-a1" }] }],
    });
    const validated = validateEbpfMapObject(spoof.resource);
    expect(validated.ok).toBe(false);
    expect(formatFieldErrors(validated.ok ? [] : validated.errors)).toMatch(
      /spec\.metrics\[0\]\.labels\[0\]\.decoders\[1\]: the decoder "pod" may only be the last decoder of a label named pod/,
    );
    expect(status("bob", "spoof")).toMatchObject({ phase: "Failed" });
    expect(status("bob", "spoof")?.lastError?.message).toMatch(/the decoder "pod" may only be the last decoder of a label named pod/);
    expect(await seriesOf("bob", "spoof")).toEqual([]);
    expect(attachedTo(alice1.podDir)).toEqual([status("alice", "egress")!.program!.id]);
    expect(attachedTo(bob1.podDir)).toEqual([status("bob", "egress")!.program!.id]);
  });

  it("attack: alice's program keys its rows by bob's pod's cgroup id and by made-up ids: none of them becomes a series", async () => {
    const bobId = statSync(bob1.containerDir, { bigint: true }).ino;
    const code = CODE.replace(
      "u64 cgroup = bpf_skb_cgroup_id(skb);\n  EOP_COUNTER_INC(egress, cgroup);",
      `u64 bob = ${bobId}ULL, made_up = bpf_skb_cgroup_id(skb) + 1;\n  EOP_COUNTER_INC(egress, bob);\n  EOP_COUNTER_INC(egress, made_up);`,
    );
    expect(code).toContain(`${bobId}ULL`);
    const forged = manifest("alice", "forged");
    (forged.resource.spec as { code: string }).code = code;
    (forged.resource.spec as { metrics: { name: string }[] }).metrics[0]!.name = "forged_pod_packets";
    await agent.sync([manifest("alice", "egress"), manifest("bob", "egress"), forged]);
    expect(status("alice", "forged")).toMatchObject({ phase: "Running" });
    expect(await sendFrom(alice1, 6)).toBe(6);
    // The rows exist in alice's map (bob's id and a made-up one, 6 each), but no id is one of her pods'.
    const pinned = join(status("alice", "forged")!.program!.pinDir, "map_egress");
    const rows = JSON.parse(execFileSync("bpftool", ["map", "dump", "pinned", pinned, "-j"], { encoding: "utf8" })) as unknown[];
    expect(rows).toHaveLength(2);
    const text = await families();
    expect(text.split("\n").filter((l) => l.startsWith("forged_pod_packets_total{"))).toEqual([]);
    expect(await series("bob", "egress", "web-b1")).toBe(7); // bob's own counter: his 7 packets since it exists, none of alice's
  });

  it("follows churn: a new matching pod is attached and counted within seconds; a deleted pod is detached, unpinned, and its series disappear", async () => {
    await agent.sync([manifest("alice", "egress"), manifest("bob", "egress")]);
    alice2 = makePod("alice", "web-a2", "cgroupfs");
    const started = Date.now();
    pods.set(alice2.info);
    await until(
      "alice's second pod attached",
      () => podPins("alice", "egress").sort(),
      (p) => p.length === 2,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(attachedTo(alice2.podDir)).toEqual([status("alice", "egress")!.program!.id]);
    expect(await sendFrom(alice2, 12)).toBe(12);
    expect(await series("alice", "egress", "web-a2")).toBe(12);
    expect(await series("alice", "egress", "web-a1")).toBe(41);
    // A pod that matches in another namespace is not alice's: bob's new pod goes to bob's resource only.
    const bob2 = makePod("bob", "web-b2", "systemd");
    pods.set(bob2.info);
    await until(
      "bob's second pod attached",
      () => podPins("bob", "egress").length,
      (n) => n === 2,
    );
    expect(podPins("alice", "egress")).toHaveLength(2);
    expect(attachedTo(bob2.podDir)).toEqual([status("bob", "egress")!.program!.id]);

    // alice's second pod goes: the API server drops it, the kubelet removes its cgroups.
    pods.delete(alice2.info.uid);
    await until(
      "the deleted pod's pins removed",
      () => podPins("alice", "egress"),
      (p) => p.length === 1,
    );
    expect(podPins("alice", "egress")).toEqual([`pod_${alice1.info.uid}_0_0`]);
    expect(attachedTo(alice2.podDir)).toEqual([]);
    expect(await series("alice", "egress", "web-a2")).toBeUndefined();
    expect(await seriesOf("alice", "egress")).toEqual([expect.stringContaining('pod="web-a1"')]);
    rmdirSync(alice2.containerDir);
    rmdirSync(alice2.podDir);
    // A pod whose cgroup is gone before the API server drops it (bob's second) is detached too.
    rmdirSync(bob2.containerDir); // no process ever ran in it
    rmdirSync(bob2.podDir);
    await until(
      "bob's gone pod detached",
      () => podPins("bob", "egress").length,
      (n) => n === 1,
    );
    pods.delete(bob2.info.uid);
  });

  it("a restarted agent adopts the pinned per-pod links: counters kept, no second attach", async () => {
    const before = await series("alice", "egress", "web-a1");
    const id = status("alice", "egress")!.program!.id;
    await agent.shutdown();
    expect(podPins("alice", "egress")).toEqual([`pod_${alice1.info.uid}_0_0`]);
    expect(attachedTo(alice1.podDir)).toEqual([id]); // still running while no agent runs
    agent = await env.start();
    await agent.sync([manifest("alice", "egress"), manifest("bob", "egress")]);
    expect(status("alice", "egress")).toMatchObject({ phase: "Running", program: { adopted: true, id } });
    expect(attachedTo(alice1.podDir)).toEqual([id]);
    expect(await series("alice", "egress", "web-a1")).toBe(before);
    expect(await sendFrom(alice1, 5)).toBe(5);
    expect(await series("alice", "egress", "web-a1")).toBe(before! + 5);
  });

  it("runs examples/pod-egress.yaml as shipped (in alice's namespace): her pods counted, bob's not", async () => {
    const parsed = parseManifests(example("pod-egress.yaml").replace(/^metadata:\n/m, "metadata:\n  namespace: alice\n"), "pod-egress.yaml");
    expect(parsed.problems).toEqual([]);
    expect(parsed.resources[0]!.ref).toEqual({ namespace: "alice", name: "pod-egress" });
    await agent.sync([manifest("alice", "egress"), manifest("bob", "egress"), ...parsed.resources]);
    expect(status("alice", "pod-egress")).toMatchObject({ phase: "Running" });
    expect(attachedTo(alice1.podDir)).toHaveLength(2); // "egress" and the example
    expect(await sendFrom(alice1, 9)).toBe(9);
    expect(await sendFrom(bob1, 4)).toBe(4);
    expect(sampleValue(await families(), "pod_egress_packets_total", { namespace: "alice", ebpfmap: "pod-egress", pod: "web-a1" })).toBe(9);
    expect((await seriesOf("alice", "pod-egress")).filter((l) => !l.includes('pod="web-a1"'))).toEqual([]);
  });

  it("in standalone mode (no API server, no pods) the example runs attached to no pod and says why", async () => {
    const container = await createAgentContainer({ pinRoot: `${pinRoot}-standalone`, cacheDir, plugins: [] }, createLogger({ level: "silent" }));
    container.bind(PLUGIN).toConstantValue(cgroupPlugin);
    const standalone = container.get(TOKENS.Agent);
    try {
      const parsed = parseManifests(example("pod-egress.yaml"), "pod-egress.yaml");
      await standalone.sync(parsed.resources);
      const s = standalone.statuses().find((r) => r.name === "pod-egress");
      expect(s).toMatchObject({ phase: "Running", program: { attachments: [] } });
      expect(s?.conditions.find((c) => c.type === "Loaded")?.message).toMatch(/attached to no pod: .*a standalone agent knows no pods/);
      expect(await registryText(container.get(TOKENS.Families))).not.toMatch(/^pod_egress_packets_total\{/m);
      expect(attachedTo(top)).toEqual([]);
    } finally {
      await standalone.sync([]);
      await standalone.shutdown();
      rmSync(`${pinRoot}-standalone`, { recursive: true, force: true });
    }
    expect(existsSync(`${pinRoot}-standalone`)).toBe(false);
  });

  it("switching between pod scope and a node-wide target (same code) is a new generation: nothing of the other scope stays attached", async () => {
    const nodeWideTarget = `cgroup/skb/egress:${top.slice((await findCgroup2Mount())!.length)}/kubepods`;
    const kubepods = join(top, "kubepods");
    const asPodScoped = manifest("alice", "switch");
    const asNodeWide = manifest("alice", "switch", { target: nodeWideTarget, labels: [{ name: "cgroup", decoders: [{ name: "uint" }] }] });
    delete (asNodeWide.resource.spec as { selector?: unknown }).selector;
    await agent.sync([asPodScoped]);
    const podId = status("alice", "switch")!.program!.id;
    expect(attachedTo(alice1.podDir)).toContain(podId);
    await agent.sync([asNodeWide]);
    const nodeId = status("alice", "switch")!.program!.id;
    expect(nodeId).not.toBe(podId);
    expect(attachedTo(kubepods)).toEqual([nodeId]);
    expect(attachedTo(alice1.podDir)).not.toContain(podId);
    expect(podPins("alice", "switch")).toEqual([]);
    await agent.sync([asPodScoped]);
    const again = status("alice", "switch")!.program!.id;
    expect(attachedTo(kubepods)).toEqual([]);
    expect(attachedTo(alice1.podDir)).toContain(again);
    await agent.sync([]);
    expect(attachedTo(alice1.podDir)).toEqual([]);
  });

  it("deleting the resources detaches every pod and leaves no pins", async () => {
    await agent.sync([]);
    expect(attachedTo(alice1.podDir)).toEqual([]);
    expect(attachedTo(bob1.podDir)).toEqual([]);
    expect(existsSync(join(pinRoot, "alice"))).toBe(false);
    expect(existsSync(join(pinRoot, "bob"))).toBe(false);
  });
});
