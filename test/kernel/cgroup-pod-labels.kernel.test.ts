/**
 * Pod labels for node-wide programs (issue 12): the decoders cgroup_namespace and cgroup_pod on
 * the real kernel, through the agent's own container (compiler, loader, the real tracepoint and
 * cgroup plugins, the real pod discovery of pods/, the agent's one cgroup id -> pod lookup).
 *
 * No kubelet runs here: the test lays out the kubelet's cgroup v2 tree itself below a cgroup of
 * its own (never the root cgroup) — alice's pod under the cgroupfs driver, bob's under the
 * systemd driver — and says which pods "the API server" lists on the node with a
 * StaticPodSource (the cluster agent's is its metadata-only pod informer). The cgroup ids are the
 * kernel's: the programs read them (bpf_get_current_cgroup_id), the agent finds them by walking
 * the tree. Workloads are real processes put into those cgroups. The policy side (who may use
 * these decoders) is the operator's admission: packages/operator/src/shared/tenancy-policy.test.ts
 * and test/kube/tenancy-policy.kube.test.ts.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PodLabels, TOKENS, parseManifests, type Agent, type ParsedManifest } from "@ebpf-operator/core";
import { cgroupPlugin } from "../../packages/plugin-cgroup/src/cgroup-plugin.js";
import { tracepointPlugin } from "../../packages/plugin-tracepoint/src/tracepoint-plugin.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import type { KubeletLayout } from "../helpers/kubelet-layout.js";
import { removeCgroup, until, type FakePod } from "../helpers/kubelet-layout.js";
import { example } from "../helpers/manifests.js";
import { PodScopeAgent } from "../helpers/pod-scope-agent.js";

requireKernelCapabilities();

const METRIC = "execs_by_pod_total";
/** The negative cache's bound in this test's agent (the default is 4096): small, so the churn passes it. */
const NEGATIVE_MAX = 256;
const CHURN = 1_000;

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Every sample of `name`, its labels parsed exactly (no substring matching: pod_namespace contains namespace). */
function samples(text: string, name: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const pair of match[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    out.push({ labels, value: Number(match[3]) });
  }
  return out;
}

describe("cgroup_namespace and cgroup_pod on a node-wide program, on the real kernel", () => {
  // The agent's one cgroup id -> pod lookup, with a small negative cache.
  const env = new PodScopeAgent({
    name: "podlabels",
    plugins: [tracepointPlugin, cgroupPlugin],
    configure: (container, scope) => container.rebind(TOKENS.PodLabels).toConstantValue(new PodLabels(scope, { negativeMax: NEGATIVE_MAX })),
  });
  const { pods, families, status } = env;
  let layout: KubeletLayout;
  let top: string;
  let agent: Agent;
  let podLabels: PodLabels;
  let alice: FakePod;
  let bob: FakePod;
  let unlisted: FakePod;
  let host: string;

  /** Runs /bin/true `count` times from a shell moved into `cgroup` first: `count` execs there. */
  function execIn(cgroup: string, count: number): void {
    // Only /bin/true execs in the cgroup: no `seq` (a command substitution would exec there too).
    const script = `echo $$ > "$1/cgroup.procs" && i=0 && while [ $i -lt ${count} ]; do /bin/true; i=$((i + 1)); done`;
    const result = spawnSync("sh", ["-c", script, "sh", cgroup], { stdio: "pipe" });
    if (result.status !== 0) throw new Error(`exec workload failed: ${result.stderr.toString()}`);
  }

  const seriesOf = async (ebpfmap: string, metric = METRIC) => samples(await families(), metric).filter((s) => s.labels.ebpfmap === ebpfmap);
  const valueOf = async (ebpfmap: string, podNamespace: string, podName: string, metric = METRIC) =>
    (await seriesOf(ebpfmap, metric)).find((s) => s.labels.pod_namespace === podNamespace && s.labels.pod_name === podName)?.value;

  /** The example as shipped, in namespace `platform` (a standalone container has no policy: admission is the operator's). */
  function shippedExample(): ParsedManifest {
    const parsed = parseManifests(example("node-pod-execs.yaml").replace(/^metadata:\n/m, "metadata:\n  namespace: platform\n"), "node-pod-execs.yaml");
    expect(parsed.problems).toEqual([]);
    return parsed.resources[0]!;
  }

  beforeAll(async () => {
    layout = await env.layout();
    top = layout.top;
    alice = layout.makePod("alice", "web-a1", "cgroupfs");
    bob = layout.makePod("bob", "db-0", "systemd");
    // A cgroup laid out like a pod whose UID the API server does not list on this node.
    unlisted = layout.makePod("mallory", "not-listed", "cgroupfs");
    host = layout.mkcgroup("system.slice/host.service");
    pods.set(alice.info);
    pods.set(bob.info);
    agent = await env.start((container) => (podLabels = container.get(TOKENS.PodLabels)));
  });

  afterAll(async () => {
    await env.stop();
    podLabels?.close();
    if (top && existsSync(top)) {
      // Churn cgroups the workload could not remove at once (each holds no process by now).
      for (const name of readdirSync(top).filter((n) => n.startsWith("churn-"))) await removeCgroup(join(top, name));
    }
    await env.cleanup();
  });

  it("runs examples/node-pod-execs.yaml as shipped: each pod's execs under its namespace and name, whatever the namespace", async () => {
    await agent.sync([shippedExample()]);
    expect(status("platform", "node-pod-execs")).toMatchObject({ phase: "Running" });
    execIn(alice.containerDir, 7);
    execIn(bob.containerDir, 4);
    // The first scrape starts the lookup (one cgroup walk); the next ones name the pods.
    await until(
      "both pods labelled",
      async () => (await seriesOf("node-pod-execs")).length,
      (n) => n === 2,
    );
    expect(await valueOf("node-pod-execs", "alice", "web-a1")).toBe(7);
    expect(await valueOf("node-pod-execs", "bob", "db-0")).toBe(4);
    for (const s of await seriesOf("node-pod-execs")) expect(s.labels.namespace).toBe("platform"); // the EbpfMap's, never the pod's
  });

  it("drops the rows of a host cgroup and of a pod-looking cgroup the API server does not list: no series, though the map has them", async () => {
    execIn(host, 5);
    execIn(unlisted.containerDir, 3);
    execIn(alice.containerDir, 1);
    await until(
      "alice's new exec counted",
      () => valueOf("node-pod-execs", "alice", "web-a1"),
      (v) => v === 8,
    );
    const series = await seriesOf("node-pod-execs");
    expect(series.map((s) => `${s.labels.pod_namespace}/${s.labels.pod_name}`).sort()).toEqual(["alice/web-a1", "bob/db-0"]);
    // The node's other processes exec too (other cgroups): the map holds far more rows than there are series.
    const pinned = join(status("platform", "node-pod-execs")!.program!.pinDir, "map_execs");
    const rows = JSON.parse(execFileSync("bpftool", ["map", "dump", "pinned", pinned, "-j"], { encoding: "utf8" })) as unknown[];
    expect(rows.length).toBeGreaterThanOrEqual(4);
  });

  it("attack: a program keying rows by made-up ids gets them into its map but into no series", async () => {
    const forged = shippedExample();
    forged.ref = { namespace: "platform", name: "forged" };
    const spec = forged.resource.spec as { code: string; metrics: { name: string }[] };
    (forged.resource.metadata as { name: string }).name = "forged";
    spec.code = spec.code.replace(
      "struct key key = { .cgroup = bpf_get_current_cgroup_id() };",
      "struct key key = { .cgroup = 0xfffffffffff0ULL + (bpf_get_current_cgroup_id() & 7) };",
    );
    expect(spec.code).toContain("0xfffffffffff0ULL");
    spec.metrics[0]!.name = "forged_pod_execs";
    await agent.sync([shippedExample(), forged]);
    expect(status("platform", "forged")).toMatchObject({ phase: "Running" });
    execIn(alice.containerDir, 3);
    execIn(bob.containerDir, 3);
    await until(
      "the shipped example counted the new execs",
      () => valueOf("node-pod-execs", "bob", "db-0"),
      (v) => v === 7,
    );
    const pinned = join(status("platform", "forged")!.program!.pinDir, "map_execs");
    const rows = JSON.parse(execFileSync("bpftool", ["map", "dump", "pinned", pinned, "-j"], { encoding: "utf8" })) as unknown[];
    expect(rows.length).toBeGreaterThan(0);
    expect(await seriesOf("forged", "forged_pod_execs_total")).toEqual([]);
  });

  it(`stays bounded under a churn of ${CHURN} real short-lived cgroups: no new series, the negative cache at its bound`, async () => {
    await agent.sync([shippedExample()]);
    // One shell makes each cgroup, execs in it, leaves it and removes it: CHURN real cgroup ids in the map.
    const script =
      `for i in $(seq ${CHURN}); do d="$1/churn-$i"; mkdir "$d" && sh -c 'echo $$ > "$1/cgroup.procs" && exec /bin/true' sh "$d"; ` +
      `rmdir "$d" 2>/dev/null || true; done`;
    const result = spawnSync("sh", ["-c", script, "sh", top], { stdio: "pipe", timeout: 120_000 });
    expect(result.status, result.stderr?.toString()).toBe(0);
    const series = await seriesOf("node-pod-execs");
    expect(series.map((s) => `${s.labels.pod_namespace}/${s.labels.pod_name}`).sort()).toEqual(["alice/web-a1", "bob/db-0"]);
    const sizes = podLabels.identities.sizes;
    expect(sizes.unknown).toBe(NEGATIVE_MAX); // every churned id was looked up, and the cache kept only its bound
    expect(sizes.known).toBe(4); // alice's and bob's pod and container cgroups; never the unlisted one
    expect(await valueOf("node-pod-execs", "alice", "web-a1")).toBe(11);
  });

  it("runs examples/pod-sockets.yaml as shipped in alice's namespace: her pod's sockets by protocol, none of bob's", async () => {
    const parsed = parseManifests(example("pod-sockets.yaml").replace(/^metadata:\n/m, "metadata:\n  namespace: alice\n"), "pod-sockets.yaml");
    expect(parsed.problems).toEqual([]);
    await agent.sync([shippedExample(), ...parsed.resources]);
    expect(status("alice", "pod-sockets")).toMatchObject({ phase: "Running" });
    expect(status("alice", "pod-sockets")?.program?.attachments).toEqual([expect.stringMatching(/^pod alice\/web-a1 /)]);
    const openSockets = (pod: FakePod, count: number) => {
      const script =
        `require("fs").writeFileSync(${JSON.stringify(join(pod.containerDir, "cgroup.procs"))}, String(process.pid));` +
        `const d=require("dgram");let n=0;for(let i=0;i<${count};i++){const s=d.createSocket("udp4");s.bind(0,"127.0.0.1",()=>{s.close();if(++n===${count})process.exit(0)})}`;
      const result = spawnSync(process.execPath, ["-e", script], { stdio: "pipe" });
      if (result.status !== 0) throw new Error(`socket workload failed: ${result.stderr.toString()}`);
    };
    openSockets(alice, 5);
    openSockets(bob, 3);
    const udp = await until(
      "alice's sockets counted",
      async () => samples(await families(), "pod_sockets_total").filter((s) => s.labels.ebpfmap === "pod-sockets"),
      (rows) => rows.some((r) => r.labels.protocol === "udp"),
    );
    expect(udp.filter((r) => r.labels.protocol === "udp")).toEqual([
      { labels: { namespace: "alice", ebpfmap: "pod-sockets", pod: "web-a1", protocol: "udp" }, value: 5 },
    ]);
    expect(udp.every((r) => r.labels.pod === "web-a1")).toBe(true);
    await agent.sync([shippedExample()]);
  });

  it("a new pod is labelled within seconds, a deleted pod's series disappear", async () => {
    const carol = layout.makePod("carol", "job-x", "systemd");
    pods.set(carol.info);
    execIn(carol.containerDir, 2);
    const started = Date.now();
    await until(
      "carol's pod labelled",
      () => valueOf("node-pod-execs", "carol", "job-x"),
      (v) => v === 2,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    pods.delete(carol.info.uid);
    await until(
      "carol's series gone",
      () => valueOf("node-pod-execs", "carol", "job-x"),
      (v) => v === undefined,
    );
    expect((await seriesOf("node-pod-execs")).map((s) => s.labels.pod_name).sort()).toEqual(["db-0", "web-a1"]);
  });
});
