/**
 * The node keeps to itself (docs/kube-node.md, "How the node is isolated"): its network, pod
 * cgroups, bpffs and kernel tunables are checked from the host while the cluster runs. (The
 * teardown itself is checked by the harness: stop() reports cgroups it could not remove.)
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KUBELET_TUNABLES, POD_SUBNET, attachNodeCluster } from "../helpers/node/cluster.js";

const cluster = attachNodeCluster();
const info = JSON.parse(readFileSync(join(cluster.dir, "node.json"), "utf8")) as { cgroup: string; hostTunables: Record<string, string> };

describe("the one-node cluster", () => {
  it("runs Kubernetes 1.37 on containerd 2.x, cgroup v1 with the cgroupfs driver", async () => {
    const node = JSON.parse(await cluster.kubectlOk(["get", "node", cluster.nodeName, "-o", "json"])) as {
      status: { nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string }; addresses: { type: string; address: string }[] };
    };
    expect(node.status.nodeInfo.kubeletVersion).toMatch(/^v1\.37\./);
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/v?2\./);
    expect(node.status.addresses).toContainEqual({ type: "InternalIP", address: cluster.nodeIp });
  });

  it("keeps its network to itself: the bridge and the pods' veths are in the node's namespace, not the host's", async () => {
    const inside = await cluster.exec(["ip", "-br", "addr"]);
    expect(inside.stdout).toMatch(/^cni0\s+\S+\s+10\.244\.0\.1\/24/m); // UP, or DOWN once no pod is left
    expect(inside.stdout).toContain(cluster.nodeIp);
    const host = execFileSync("ip", ["-br", "addr"], { encoding: "utf8" });
    expect(host).not.toContain(cluster.nodeIp);
    expect(host).not.toContain(POD_SUBNET.replace(/0\/24$/, "1/24"));
  });

  it("puts the pods' cgroups below the run's own subtree in every hierarchy", async () => {
    const pod = JSON.parse(
      await cluster.kubectlOk([
        "run",
        "eop-cgroup-probe",
        "-n",
        "default",
        "--image=localhost/ebpf-operator/pause:1",
        "--image-pull-policy=Never",
        "--restart=Never",
        "-o",
        "json",
      ]),
    ) as { metadata: { uid: string } };
    try {
      await cluster.kubectlOk(["wait", "--for=condition=Ready", "pod/eop-cgroup-probe", "-n", "default", "--timeout=120s"], { timeoutMs: 130_000 });
      // The pod's cgroup, and its containers' (the pause container's process) below it.
      for (const hierarchy of ["memory", "cpu", "pids"]) {
        const dir = `/sys/fs/cgroup/${hierarchy}/${info.cgroup}/kubepods/besteffort/pod${pod.metadata.uid}`;
        const procs = readdirSync(dir, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => readFileSync(join(dir, e.name, "cgroup.procs"), "utf8").trim())
          .join("");
        expect(procs, hierarchy).not.toBe("");
      }
      expect(readFileSync("/sys/fs/cgroup/memory/cgroup.procs", "utf8").length).toBeGreaterThan(0); // the root is there, untouched
    } finally {
      await cluster.kubectl(["delete", "pod", "eop-cgroup-probe", "-n", "default", "--wait=true", "--timeout=60s"]);
    }
  });

  it("has a bpffs of its own: the node's /sys/fs/bpf is another instance than the host's", () => {
    const dev = (path: string) => execFileSync("stat", ["-c", "%d", path], { encoding: "utf8" }).trim();
    expect(dev(cluster.nodePath("/sys/fs/bpf"))).not.toBe(dev("/sys/fs/bpf"));
  });

  it("never changes the machine's kernel tunables, though the kubelet sees the values it wants", async () => {
    for (const name of KUBELET_TUNABLES) {
      expect(readFileSync(join("/proc/sys", name), "utf8").trim(), name).toBe(info.hostTunables[name]);
    }
    expect((await cluster.exec(["cat", "/proc/sys/kernel/panic_on_oops"])).stdout.trim()).toBe("1");
    expect((await cluster.exec(["cat", "/proc/sys/vm/overcommit_memory"])).stdout.trim()).toBe("1");
  });
});
