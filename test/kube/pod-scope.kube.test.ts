/**
 * Pod scope in cluster mode: a real cluster agent (in-process, the real kernel, its own pin root)
 * against a real kube-apiserver, with no operator running. The pods are real API objects bound
 * to the agent's node by `spec.nodeName` (no kubelet runs in this project, so they stay
 * Pending); their cgroups are laid out by the test the way the kubelet and containerd make them
 * (cgroupfs driver for alice's, systemd for bob's), below a cgroup of the test's own, never the
 * root cgroup, and named after the UIDs the API server gave the pods. The agent's metadata-only
 * pod informer (its RBAC: list/watch pods) names them; the kernel's tree places them.
 *
 * examples/pod-egress.yaml in alice's namespace — no policy selects it: the default admits pod
 * scope — is compiled and published as the operator would, and attached by the agent to alice's
 * pod only; a new pod is attached, a deleted one detached with its pins. The CRD's CEL rule
 * refuses a label `pod` whose value a tenant would make.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, rmdirSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_PLUGINS, BpfCompiler, createLogger, findCgroup2MountInfo, parseManifests } from "@ebpf-operator/core";
import { ObjectStore, startClusterAgent, type RunningClusterAgent } from "@ebpf-operator/operator";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { attachControlPlane, deleteNamespace, repoRoot } from "../helpers/kube/control-plane.js";
import { eventually } from "../helpers/kube/resources.js";
import { example } from "../helpers/manifests.js";

requireKernelCapabilities();

const cp = attachControlPlane();
const SYSTEM = `eop-podscope-system-${process.pid}`;
const ALICE = `eop-podscope-alice-${process.pid}`;
const BOB = `eop-podscope-bob-${process.pid}`;
const NODE = `eop-podscope-node-${process.pid}`;
const NAME = "pod-egress";
const pinRoot = `/sys/fs/bpf/eop-test-podscope-kube-${process.pid}`;

interface NodeReport {
  spec: { ebpfMap: string; nodeName: string };
  status: { phase: string; program?: { id: number; attachments: string[] }; lastError?: { code?: string; message: string } };
}

async function report(namespace: string, name = NAME): Promise<NodeReport | undefined> {
  const out = await cp.kubectlOk(["get", "ebpfmapnodestatuses", "-n", namespace, "-l", `observability.cloud/ebpfmap=${name}`, "-o", "json"]);
  return (JSON.parse(out) as { items: NodeReport[] }).items.find((i) => i.spec.nodeName === NODE);
}

const podJson = (namespace: string, name: string) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels: { app: "web" } },
    spec: { nodeName: NODE, containers: [{ name: "app", image: "registry.invalid/app:1" }] },
  });

async function createPod(namespace: string, name: string): Promise<string> {
  await cp.kubectlOk(["apply", "-f", "-"], { input: podJson(namespace, name) });
  return (await cp.kubectlOk(["get", "pod", name, "-n", namespace, "-o", "jsonpath={.metadata.uid}"])).trim();
}

const attachedTo = (dir: string): number[] => {
  const out = execFileSync("bpftool", ["cgroup", "show", dir, "-j"], { encoding: "utf8" }).trim();
  return out === "" ? [] : (JSON.parse(out) as { id: number }[]).map((p) => p.id);
};

const podPins = (): string[] => {
  const dir = join(pinRoot, ALICE, NAME);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((g) => readdirSync(join(dir, g)).filter((e) => e.startsWith("pod_")));
};

describe("pod scope in cluster mode: the node's pods from the API server, their cgroups from the kernel", () => {
  let agent: RunningClusterAgent | undefined;
  let cacheDir: string;
  let top: string;
  const made: string[] = [];
  const dirs: Record<string, string> = {};

  function mkcgroup(relative: string): string {
    let dir = top;
    for (const part of relative.split("/")) {
      dir = join(dir, part);
      if (!existsSync(dir)) {
        mkdirSync(dir);
        made.push(dir);
      }
    }
    return dir;
  }
  const container = () => `${randomUUID().replaceAll("-", "")}${randomUUID().replaceAll("-", "")}`;
  const cgroupfsPod = (uid: string) => {
    const pod = mkcgroup(`kubepods/besteffort/pod${uid}`);
    mkcgroup(`kubepods/besteffort/pod${uid}/${container()}`);
    return pod;
  };
  const systemdPod = (uid: string) => {
    const podPath = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replaceAll("-", "_")}.slice`;
    const pod = mkcgroup(podPath);
    mkcgroup(`${podPath}/cri-containerd-${container()}.scope`);
    return pod;
  };

  beforeAll(async () => {
    const mount = await findCgroup2MountInfo();
    if (!mount) throw new Error("the pod-scope tests need a cgroup v2 hierarchy");
    top = join(mount.path, `eop-test-podscope-kube-${process.pid}`);
    mkdirSync(top);
    cacheDir = mkdtempSync(join(tmpdir(), `eop-podscope-kube-${process.pid}-`));
    await cp.kubectlOk(["apply", "-f", join(repoRoot, "deploy/crds")]);
    await cp.kubectlOk([
      "wait",
      "--for=condition=Established",
      "crd/ebpfmaps.observability.cloud",
      "crd/ebpftenancypolicies.observability.cloud",
      "--timeout=60s",
    ]);
    for (const ns of [SYSTEM, ALICE, BOB]) await cp.kubectlOk(["create", "namespace", ns]);
    await cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: NODE } }) });
    dirs.alice = cgroupfsPod(await createPod(ALICE, "web-1"));
    dirs.bob = systemdPod(await createPod(BOB, "web-1"));

    // examples/pod-egress.yaml in alice's namespace, compiled and published as the operator would.
    const manifest = example("pod-egress.yaml");
    const spec = parseManifests(manifest, "pod-egress.yaml").resources[0]!.resource.spec;
    const compiled = await new BpfCompiler({ cacheDir }).compile({ source: spec.code, label: NAME });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cp.kubeconfig);
    const published = await new ObjectStore(kubeConfig, SYSTEM).publish(compiled.hash, compiled.objectPath);
    await cp.kubectlOk(["apply", "-n", ALICE, "-f", "-"], { input: manifest });
    await cp.kubectlOk([
      "patch",
      "ebpfmap",
      NAME,
      "-n",
      ALICE,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { object: { hash: compiled.hash, sha256: published.sha256, configMap: published.name, namespace: SYSTEM, generation: 1 } } }),
    ]);
    agent = await startClusterAgent({
      kubeConfig,
      nodeName: NODE,
      objectNamespace: SYSTEM,
      pinRoot,
      cacheDir,
      plugins: BUILTIN_PLUGINS,
      listen: "127.0.0.1:0",
      logger: createLogger({ level: (process.env.EOP_TEST_LOG_LEVEL as "info" | undefined) ?? "silent" }),
      bpfStats: false,
    });
  });

  afterAll(async () => {
    await agent?.stop();
    for (const ns of [ALICE, BOB]) await cp.kubectl(["delete", "pods", "--all", "-n", ns, "--grace-period=0", "--force"]);
    for (const ns of [ALICE, BOB, SYSTEM]) await deleteNamespace(cp, ns).catch(() => undefined);
    await cp.kubectl(["delete", "node", NODE, "--ignore-not-found"]);
    // Pins first (a pinned link holds its cgroup), then the test's cgroups.
    rmSync(pinRoot, { recursive: true, force: true });
    for (const dir of [...made].reverse()) if (existsSync(dir)) rmdirSync(dir);
    if (top && existsSync(top)) rmdirSync(top);
    rmSync(cacheDir, { recursive: true, force: true });
    expect(existsSync(top)).toBe(false);
  });

  it("attaches alice's pod-scoped example to her pod's cgroup only, under the default policy", async () => {
    const running = await eventually("alice's resource running, attached to her pod", async () => {
      const r = await report(ALICE);
      return r?.status.phase === "Running" && r.status.program?.attachments.length === 1 ? r : undefined;
    });
    expect(running.status.program!.attachments).toEqual([
      expect.stringMatching(new RegExp(`^pod ${ALICE}/web-1 \\(cgroup .*/kubepods/besteffort/pod[0-9a-f-]+\\)$`)),
    ]);
    expect(attachedTo(dirs.alice!)).toEqual([running.status.program!.id]);
    // Bob's pod has the same labels; the selector is alice's namespace's only.
    expect(attachedTo(dirs.bob!)).toEqual([]);
    expect(attachedTo(top)).toEqual([]);
    expect(podPins()).toHaveLength(1);
  });

  it("attaches a new matching pod within seconds, and detaches a deleted one with its pins", async () => {
    const uid = await createPod(ALICE, "web-2");
    dirs.alice2 = cgroupfsPod(uid);
    const two = await eventually(
      "the new pod attached",
      async () => {
        const r = await report(ALICE);
        return r?.status.program?.attachments.length === 2 ? r : undefined;
      },
      15_000,
    );
    expect(two.status.program!.attachments.map((a) => a.split(" ")[1])).toEqual([`${ALICE}/web-1`, `${ALICE}/web-2`]);
    expect(attachedTo(dirs.alice2)).toEqual([two.status.program!.id]);
    expect(podPins()).toEqual(expect.arrayContaining([expect.stringContaining(uid)]));

    await cp.kubectlOk(["delete", "pod", "web-2", "-n", ALICE, "--grace-period=0", "--force"]);
    await eventually(
      "the deleted pod detached",
      async () => {
        const r = await report(ALICE);
        return r?.status.program?.attachments.length === 1 ? r : undefined;
      },
      15_000,
    );
    expect(attachedTo(dirs.alice2)).toEqual([]);
    expect(podPins().some((p) => p.includes(uid))).toBe(false);
  });

  it("refuses at the API server a label pod whose value a tenant would make (no pod decoder last)", async () => {
    const spoof = example("pod-egress.yaml")
      .replace("name: pod-egress", "name: pod-spoof")
      .replace("            - name: pod\n", "            - name: pod\n            - name: static_map\n              default: web-1\n");
    expect(spoof).toContain("static_map");
    const result = await cp.kubectl(["apply", "-n", BOB, "-f", "-"], { input: spoof });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/the label pod is the agent's: only a pod-scoped resource \(spec\.selector\) may name it, with the decoder pod last/);
  });
});
