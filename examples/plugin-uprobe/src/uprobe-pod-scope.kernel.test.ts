/**
 * Pod-scoped uprobes (issue 12) on the real kernel, through the agent's own container (compiler,
 * loader, this plugin, the real pod discovery). The tenant's program is loaded and never
 * attached; the agent's gate is attached at the binary as each selected pod's containers see it
 * and tail-calls the program only for tasks below a selected pod's cgroup.
 *
 * No kubelet or container runtime runs in this project. The test lays out the kubelet's cgroup
 * tree itself (test/helpers/kubelet-layout.ts) and stands in for the runtime with chroot: each
 * pod's container is a process chrooted into a root directory of its own holding the statically
 * linked probe target at /app/probe-target (its `/proc/<pid>/root` is that directory, as a
 * container's is its root filesystem). Alice's and bob's roots hold the *same file* (hard
 * links: one inode, as an image layer shared by two containers through overlayfs is), so a
 * uprobe on alice's binary fires in bob's processes too: the gate must turn them away. Each
 * pod also has a "pause" container whose root lacks the binary.
 */
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { readlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseManifests, type Agent, type ParsedManifest } from "@ebpf-operator/core";
import { requireKernelCapabilities } from "../../../test/helpers/kernel.js";
import type { KubeletLayout } from "../../../test/helpers/kubelet-layout.js";
import { removeCgroup, until, type FakeContainer, type FakePod } from "../../../test/helpers/kubelet-layout.js";
import { example } from "../../../test/helpers/manifests.js";
import { sampleValue } from "../../../test/helpers/metrics.js";
import { COUNT_BY_CGROUP, HEADERS, PodScopeAgent, countByPodMetrics, ebpfMap } from "../../../test/helpers/pod-scope-agent.js";
import { compileProbeTarget, tlsWriterRoot } from "./fixtures/compile.js";
import { uprobePlugin } from "./uprobe-plugin.js";

requireKernelCapabilities();

/** Counts calls by the caller's cgroup, and every run of the program in `runs`. */
const CODE = `${HEADERS}
${COUNT_BY_CGROUP}
SEC("uprobe")
int count_calls(void *ctx) {
  count_call();
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

function manifest(namespace: string, name: string, target = "/app/probe-target:eop_probe_target", app = "web"): ParsedManifest {
  return ebpfMap(namespace, name, {
    type: "uprobe",
    target,
    program: "count_calls",
    selector: { matchLabels: { app } },
    metrics: countByPodMetrics({ calls: "tenant_probe_calls", runs: "tenant_probe_runs" }, "calls of eop_probe_target by the pod's tasks"),
    code: CODE,
  });
}

/** A pod as the test lays it out: its app container's root and long-running process, and a pause container. */
interface Pod extends FakePod {
  root: string;
  app: ReturnType<typeof spawn>;
  pause: ReturnType<typeof spawn>;
  pauseContainer: FakeContainer;
}

describe("pod-scoped uprobes on the real kernel (the agent's gate at each pod's binary)", () => {
  const env = new PodScopeAgent({ name: "uprobepod", plugins: [uprobePlugin] });
  const { pods, families, status } = env;
  const roots = mkdtempSync(join(tmpdir(), "eop-uprobepod-roots-"));
  const children: ReturnType<typeof spawn>[] = [];
  let kubelet: KubeletLayout;
  let agent: Agent;
  let image: string; // the "image layer" file every root links
  let hostBinary: string; // a copy on the host, outside every root
  let pauseBinary: string;
  let alice1: Pod;
  let bob1: Pod;

  /** Starts `chroot <root> <program> <n> wait`, in `cgroupDir` once chrooted; it calls after `go()`. */
  async function chrooted(root: string | undefined, program: string, n: number, cgroupDir: string | undefined) {
    const child = root
      ? spawn("chroot", [root, program, String(n), "wait"], { stdio: ["pipe", "pipe", "ignore"] })
      : spawn(program, [String(n), "wait"], { stdio: ["pipe", "pipe", "ignore"] });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    // "close": the exit code once stdout is drained too ("exit" may come before its last bytes).
    const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
    // chroot execs the program: wait until this pid is it (its root, its binary).
    for (let i = 0; i < 100; i++) {
      const exe = await readlink(`/proc/${child.pid}/exe`).catch(() => "");
      if (exe.endsWith(program.slice(program.lastIndexOf("/")))) break;
      await sleep(10);
    }
    if (cgroupDir) execFileSync("sh", ["-c", `echo ${child.pid} > ${cgroupDir}/cgroup.procs`]);
    return {
      child,
      async go(): Promise<void> {
        child.stdin!.end("go\n");
        expect(await exited).toBe(0);
        expect(Number(out)).toBe((n * (n + 1)) / 2);
      },
    };
  }
  /** `n` calls of eop_probe_target by a process of `pod`'s app container. */
  const callsIn = async (pod: Pod, n: number) => (await chrooted(pod.root, "/app/probe-target", n, pod.containerDir)).go();

  /** A pod: cgroups, a root whose /app/probe-target links `image` (or `file`), its app and pause processes. */
  async function makePod(
    namespace: string,
    name: string,
    driver: "cgroupfs" | "systemd",
    options: { labels?: Record<string, string>; setup?: (root: string) => void } = {},
  ): Promise<Pod> {
    const pod = kubelet.makePod(namespace, name, driver, options.labels ?? { app: "web" });
    const root = join(roots, `${namespace}-${name}`);
    mkdirSync(join(root, "app"), { recursive: true });
    if (options.setup) options.setup(root);
    else linkSync(image, join(root, "app", "probe-target"));
    const pauseRoot = `${root}-pause`;
    mkdirSync(pauseRoot);
    linkSync(pauseBinary, join(pauseRoot, "pause"));
    const pauseContainer = kubelet.makeContainer(pod);
    const pause = (await chrooted(pauseRoot, "/pause", 0, pauseContainer.dir)).child;
    const app = options.setup ? pause : (await chrooted(root, "/app/probe-target", 0, pod.containerDir)).child;
    return { ...pod, root, app, pause, pauseContainer };
  }
  async function removePod(pod: Pod): Promise<void> {
    for (const child of [pod.app, pod.pause]) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await exited;
      }
    }
    await kubelet.removeContainer(pod.pauseContainer);
    await kubelet.removePod(pod);
  }

  const value = async (metric: string, namespace: string, ebpfmap: string, labels: Record<string, string> = {}) =>
    sampleValue(await families(), metric, { namespace, ebpfmap, ...labels }) ?? 0;
  const loadedMessage = (namespace: string, name: string) => status(namespace, name)?.conditions.find((c) => c.type === "Loaded")?.message ?? "";
  const generation = (namespace: string, name: string) => status(namespace, name)!.program!.pinDir!;
  const podPins = (namespace: string, name: string) =>
    readdirSync(generation(namespace, name))
      .filter((e) => e.startsWith("pod_"))
      .sort();
  const bpftool = <T>(...args: string[]): T => JSON.parse(execFileSync("bpftool", [...args, "-j"], { encoding: "utf8" })) as T;
  const linkedPrograms = (): number[] => bpftool<{ prog_id: number }[]>("link", "list").map((l) => l.prog_id);
  const linkIds = (): number[] => bpftool<{ id: number }[]>("link", "list").map((l) => l.id);
  /** The ids of a resource's pinned pod links. */
  const podLinkIds = (namespace: string, name: string) =>
    podPins(namespace, name).map((pin) => bpftool<{ id: number }>("link", "show", "pinned", join(generation(namespace, name), pin)).id);
  const linkedProgramName = (pin: string) => {
    const link = bpftool<{ prog_id: number }>("link", "show", "pinned", pin);
    return bpftool<{ name: string }>("prog", "show", "id", String(link.prog_id)).name;
  };
  const filterSize = (namespace: string, name: string) => bpftool<unknown[]>("map", "dump", "pinned", join(generation(namespace, name), "gate_filter")).length;

  beforeAll(async () => {
    image = compileProbeTarget(roots, "image-probe-target", true);
    hostBinary = join(roots, "host-probe-target");
    copyFileSync(image, hostBinary);
    pauseBinary = join(roots, "pause-binary");
    copyFileSync(image, pauseBinary); // another inode: the pause processes never fire the probe
    kubelet = await env.layout();
    alice1 = await makePod("alice", "web-a1", "cgroupfs");
    bob1 = await makePod("bob", "web-b1", "systemd");
    pods.set(alice1.info);
    pods.set(bob1.info);
    agent = await env.start();
  });

  afterAll(async () => {
    await env.stop();
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await sleep(100);
    rmSync(roots, { recursive: true, force: true });
    await env.cleanup(); // the pause containers' cgroups too: the layout made them
  });

  it("alice's pod-scoped uprobe counts exactly her pod's calls while bob's pod calls the same function of the same inode as often", async () => {
    await agent.sync([manifest("alice", "probe")]);
    expect(status("alice", "probe")).toMatchObject({ phase: "Running" });
    await until(
      "alice's pod attached and let through",
      () => podPins("alice", "probe").length + filterSize("alice", "probe"),
      (n) => n === 2,
    );
    await callsIn(alice1, 20);
    await callsIn(bob1, 20); // the same file (inode) as alice's
    await (await chrooted(undefined, join(alice1.root, "app/probe-target"), 20, undefined)).go(); // the same file, run on the host
    await (await chrooted(undefined, hostBinary, 20, alice1.containerDir)).go(); // alice's pod, another file: not the target
    expect(await value("tenant_probe_calls_total", "alice", "probe", { pod: "web-a1" })).toBe(20);
    expect(await value("tenant_probe_runs_total", "alice", "probe")).toBe(20);
    expect(status("alice", "probe")?.program?.attachments).toEqual([expect.stringMatching(/^pod alice\/web-a1 \(cgroup .*pod[0-9a-f-]+\)$/)]);
  });

  it("the tenant's program is attached nowhere: the agent's gate is, at the pod's file, pinned under the pod", async () => {
    const tenant = status("alice", "probe")!.program!.id;
    expect(linkedPrograms()).not.toContain(tenant);
    const [pin] = podPins("alice", "probe");
    expect(pin).toMatch(new RegExp(`^pod_${alice1.info.uid}_0_\\d+$`));
    expect(linkedProgramName(join(generation("alice", "probe"), pin!))).toBe("eop_pod_gate");
    expect(readdirSync(generation("alice", "probe")).filter((e) => e.startsWith("link_"))).toEqual([]);
  });

  it("a new pod sharing the file is let through within seconds with no second probe (each call counted once); its own file gets its own", async () => {
    const started = Date.now();
    const alice2 = await makePod("alice", "web-a2", "systemd");
    pods.set(alice2.info);
    await until(
      "alice's second pod in the filter",
      () => filterSize("alice", "probe"),
      (n) => n === 2,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(podPins("alice", "probe")).toHaveLength(1); // one link for the one inode both pods use
    await callsIn(alice2, 15);
    await callsIn(bob1, 15);
    expect(await value("tenant_probe_calls_total", "alice", "probe", { pod: "web-a2" })).toBe(15);
    expect(await value("tenant_probe_runs_total", "alice", "probe")).toBe(35);

    // A third pod with its own copy of the binary (another inode): a second link.
    const alice3 = await makePod("alice", "web-a3", "cgroupfs", { setup: (root) => copyFileSync(image, join(root, "app", "probe-target")) });
    const app3 = (await chrooted(alice3.root, "/app/probe-target", 0, alice3.containerDir)).child;
    alice3.app = app3;
    pods.set(alice3.info);
    await until(
      "the third pod's own file probed and the pod let through",
      () => [podPins("alice", "probe").length, filterSize("alice", "probe")],
      ([pins, filter]) => pins === 2 && filter === 3,
    );
    await callsIn(alice3, 7);
    expect(await value("tenant_probe_calls_total", "alice", "probe", { pod: "web-a3" })).toBe(7);

    // The pod holding the shared link goes: the link moves to the pod still using it.
    pods.delete(alice1.info.uid);
    await until(
      "the first pod out of the filter",
      () => filterSize("alice", "probe"),
      (n) => n === 2,
    );
    expect(podPins("alice", "probe").some((p) => p.startsWith(`pod_${alice2.info.uid}_0_`))).toBe(true);
    expect(podPins("alice", "probe").some((p) => p.includes(alice1.info.uid))).toBe(false);
    const runs = await value("tenant_probe_runs_total", "alice", "probe");
    await callsIn(alice1, 9); // its cgroup still exists a moment after the API server dropped it
    await callsIn(alice2, 9);
    expect(await value("tenant_probe_runs_total", "alice", "probe")).toBe(runs + 9);
    expect(await value("tenant_probe_calls_total", "alice", "probe", { pod: "web-a2" })).toBe(24);

    // Every pod gone: no pod pins, no links, the filter empty.
    const links = podLinkIds("alice", "probe");
    expect(links).toHaveLength(2);
    pods.delete(alice2.info.uid);
    pods.delete(alice3.info.uid);
    await until(
      "every pod detached",
      () => podPins("alice", "probe").length + filterSize("alice", "probe"),
      (n) => n === 0,
    );
    const now = linkIds();
    for (const link of links) expect(now).not.toContain(link);
    await callsIn(alice2, 5);
    expect(await value("tenant_probe_runs_total", "alice", "probe")).toBe(runs + 9);
    await removePod(alice2);
    await removePod(alice3);
  });

  it("a selected pod none of whose containers has the binary is reported for that pod and attached nowhere", async () => {
    const empty = await makePod("alice", "web-empty", "cgroupfs", { setup: () => undefined });
    pods.set(empty.info);
    await until(
      "the pod reported",
      () => loadedMessage("alice", "probe"),
      (m) => m.includes("web-empty"),
    );
    expect(loadedMessage("alice", "probe")).toMatch(
      /attaching to web-empty \(.*no container of pod alice\/web-empty has \/app\/probe-target .*\/app\/probe-target does not exist.*\) failed \(retried\)/,
    );
    expect(podPins("alice", "probe")).toEqual([]);
    expect(filterSize("alice", "probe")).toBe(0);
    pods.delete(empty.info.uid);
    await removePod(empty);
  });

  it("attack: a target through a symlink to / or ../.. in the container's root never reaches the node's files", async () => {
    // The tenant's pod: /app/escape -> /, /app/up -> ../../../../../.., /app/ok -> probe-target (legitimate).
    const evil = await makePod("alice", "evil", "cgroupfs", {
      labels: { app: "evil" },
      setup: (root) => {
        linkSync(image, join(root, "app", "probe-target"));
        symlinkSync("/", join(root, "app", "escape"));
        symlinkSync("../../../../../../../../..", join(root, "app", "up"));
        symlinkSync("probe-target", join(root, "app", "ok"));
      },
    });
    evil.app = (await chrooted(evil.root, "/app/probe-target", 0, evil.containerDir)).child;
    pods.set(evil.info);
    // hostBinary exists on the node at this path, and nowhere inside the pod's root.
    const viaRoot = manifest("alice", "escape-root", `/app/escape${hostBinary}:eop_probe_target`, "evil");
    const viaDots = manifest("alice", "escape-dots", `/app/up${hostBinary}:eop_probe_target`, "evil");
    const viaOk = manifest("alice", "inside", "/app/ok:eop_probe_target", "evil");
    await agent.sync([manifest("alice", "probe"), viaRoot, viaDots, viaOk]);
    for (const name of ["escape-root", "escape-dots"]) {
      await until(
        `${name} reported`,
        () => loadedMessage("alice", name),
        (m) => m.includes("attaching to evil"),
      );
      expect(loadedMessage("alice", name)).toContain(`no container of pod alice/evil has /app/`);
      expect(loadedMessage("alice", name)).toContain(`does not exist`);
      expect(podPins("alice", name)).toEqual([]);
    }
    await until(
      "the symlink inside the root followed",
      () => podPins("alice", "inside").length + filterSize("alice", "inside"),
      (n) => n === 2,
    );
    // The pod runs the node's binary (the escape's target) and its own: only its own counts.
    await (await chrooted(undefined, hostBinary, 11, evil.containerDir)).go();
    await (await chrooted(evil.root, "/app/probe-target", 6, evil.containerDir)).go();
    expect(await value("tenant_probe_runs_total", "alice", "escape-root")).toBe(0);
    expect(await value("tenant_probe_runs_total", "alice", "escape-dots")).toBe(0);
    expect(await value("tenant_probe_calls_total", "alice", "inside", { pod: "evil" })).toBe(6);
    await agent.sync([manifest("alice", "probe")]);
    pods.delete(evil.info.uid);
    await removePod(evil);
  });

  it("a container restarted from another image (same pod) is followed: the probe moves to its new file, the old one's goes", async () => {
    await agent.sync([manifest("alice", "probe")]);
    const pod = await makePod("alice", "web-r", "cgroupfs", { labels: { app: "web" } });
    pods.set(pod.info);
    await until(
      "the pod attached and let through",
      () => podPins("alice", "probe").filter((p) => p.includes(pod.info.uid)).length + filterSize("alice", "probe"),
      (n) => n === 2,
    );
    const [oldLink] = podLinkIds("alice", "probe");
    await callsIn(pod, 5);
    expect(await value("tenant_probe_calls_total", "alice", "probe", { pod: "web-r" })).toBe(5);
    // The container ends; the runtime starts it again, in a new container cgroup, from another image.
    const exited = new Promise((resolve) => pod.app.once("exit", resolve));
    pod.app.kill("SIGKILL");
    await exited;
    rmSync(join(pod.root, "app", "probe-target"));
    copyFileSync(image, join(pod.root, "app", "probe-target")); // another inode
    const restarted = kubelet.makeContainer(pod).dir;
    await removeCgroup(pod.containerDir);
    pod.containerDir = restarted;
    pod.app = (await chrooted(pod.root, "/app/probe-target", 0, restarted)).child;
    await until(
      "the probe moved to the new file",
      () => podLinkIds("alice", "probe"),
      (ids) => ids.length === 1 && ids[0] !== oldLink,
    );
    expect(linkIds()).not.toContain(oldLink);
    const runs = await value("tenant_probe_runs_total", "alice", "probe");
    await callsIn(pod, 8);
    await callsIn(bob1, 8); // the old image's file: no longer probed for alice
    expect(await value("tenant_probe_runs_total", "alice", "probe")).toBe(runs + 8);
    // The program keyed by cgroup id: the old container's rows went with its cgroup; the new
    // one's is named once a pod sync has put it in the pod's id table.
    await until(
      "the new container's row named",
      () => value("tenant_probe_calls_total", "alice", "probe", { pod: "web-r" }),
      (n) => n === 8,
      5000,
    );
    pods.delete(pod.info.uid);
    await until(
      "the pod detached",
      () => podPins("alice", "probe").length,
      (n) => n === 0,
    );
    await removePod(pod);
  });

  it("a restarted agent adopts the gate and its link: counting kept, no second link, the pod still followed", async () => {
    await agent.sync([manifest("alice", "probe")]);
    pods.set(alice1.info);
    await until(
      "alice's pod attached again and let through",
      () => podPins("alice", "probe").length + filterSize("alice", "probe"),
      (n) => n === 2,
    );
    const id = status("alice", "probe")!.program!.id;
    const before = await value("tenant_probe_runs_total", "alice", "probe");
    const [link] = podLinkIds("alice", "probe");
    const gate = bpftool<{ prog_id: number }>("link", "show", "id", String(link)).prog_id;
    await agent.shutdown();
    await callsIn(alice1, 4); // counted while no agent runs
    agent = await env.start();
    await agent.sync([manifest("alice", "probe")]);
    expect(status("alice", "probe")).toMatchObject({ phase: "Running", program: { adopted: true, id } });
    await sleep(1500); // a few pod syncs: the adopted pod is asked about again, nothing attached twice
    expect(podLinkIds("alice", "probe")).toEqual([link]);
    expect(linkedPrograms().filter((p) => p === gate)).toHaveLength(1);
    await callsIn(alice1, 3);
    await callsIn(bob1, 3);
    expect(await value("tenant_probe_runs_total", "alice", "probe")).toBe(before + 7);
    pods.delete(alice1.info.uid);
    await until(
      "the adopted pod detached",
      () => podPins("alice", "probe").length + filterSize("alice", "probe"),
      (n) => n === 0,
    );
    expect(linkIds()).not.toContain(link);
  });
  it("runs examples/pod-tls-writes.yaml as shipped (libssl.so.3 by name, found in the pods' roots): exactly alice's pod's SSL_write calls and bytes, none of bob's pod sharing the file", async () => {
    const shipped = parseManifests(example("pod-tls-writes.yaml").replace(/^metadata:\n/m, "metadata:\n  namespace: alice\n"), "pod-tls-writes.yaml");
    expect(shipped.problems).toEqual([]);
    const tlsAlice = await makePod("alice", "tls-a", "cgroupfs", { setup: (root) => tlsWriterRoot(root) });
    // bob's container holds the same files (hard links: one image layer for both).
    const tlsBob = await makePod("bob", "tls-b", "systemd", {
      setup: (root) => {
        for (const file of readdirSync(tlsAlice.root, { recursive: true, encoding: "utf8" })) {
          const from = join(tlsAlice.root, file);
          if (statSync(from).isDirectory()) mkdirSync(join(root, file), { recursive: true });
          else linkSync(from, join(root, file));
        }
      },
    });
    for (const pod of [tlsAlice, tlsBob]) pod.app = (await chrooted(pod.root, "/app/tls-writer", 0, pod.containerDir)).child;
    pods.set(tlsAlice.info);
    pods.set(tlsBob.info);
    await agent.sync(shipped.resources);
    expect(status("alice", "pod-tls-writes")).toMatchObject({ phase: "Running" });
    await until(
      "alice's pod's libssl probed and the pod let through",
      () => podPins("alice", "pod-tls-writes").length + filterSize("alice", "pod-tls-writes"),
      (n) => n === 2,
    );
    const writes = (pod: Pod, n: number) => chrooted(pod.root, "/app/tls-writer", n, pod.containerDir).then((p) => p.go());
    await writes(tlsAlice, 20);
    await writes(tlsBob, 20);
    const labels = { pod: "tls-a" };
    expect(await value("pod_tls_writes_total", "alice", "pod-tls-writes", labels)).toBe(20);
    // SSL_write(ssl, buf, i % 64) for i = 1..20: 210 bytes.
    expect(await value("pod_tls_write_bytes_total", "alice", "pod-tls-writes", labels)).toBe(210);
    expect(status("alice", "pod-tls-writes")?.program?.attachments).toEqual([expect.stringMatching(/^pod alice\/tls-a /)]);
    await agent.sync([]);
    for (const pod of [tlsAlice, tlsBob]) {
      pods.delete(pod.info.uid);
      await removePod(pod);
    }
  });
});
