/**
 * scopedPods: the selected pods it places in the cgroup v2 tree, and those it cannot place, with
 * the reason the resource's status gives (EOP_ERR_POD_CGROUP_NOT_FOUND). The scans are made up
 * here (pure logic); the kernel's tree is walked by pods/pod-discovery.kernel.test.ts, and real
 * pods are placed by test/node/pod-scope.node.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { PodCgroup, PodCgroupScan } from "../pods/pod-cgroups.js";
import { StaticPodSource, type PodInfo } from "../pods/pod-source.js";
import { scopedPods, type UnplacedPod } from "./pod-scope.js";

const pod = (name: string, uid: string, namespace = "alice"): PodInfo => ({ uid, namespace, name, labels: { app: "web" }, deleting: false });
const cgroup = (uid: string, path: string): PodCgroup => ({
  directory: `/sys/fs/cgroup/unified${path}`,
  path,
  id: 1000n,
  level: path.split("/").length - 1,
  podUid: uid,
  driver: "cgroupfs",
  containers: [],
});

async function place(scan: PodCgroupScan, pods: PodInfo[]): Promise<{ placed: string[]; unplaced: UnplacedPod[] }> {
  const unplaced: UnplacedPod[] = [];
  const placed = await scopedPods({ source: new StaticPodSource(pods), scan: () => Promise.resolve(scan) }, "alice", { matchLabels: { app: "web" } }, unplaced);
  return { placed: placed.map((p) => p.name), unplaced };
}

describe("scopedPods", () => {
  it("places the selected pods whose cgroup the scan found, and says why the others are not placed", async () => {
    const scan: PodCgroupScan = {
      pods: new Map([["u1", cgroup("u1", "/run/kubepods/besteffort/podu1")]]),
      ambiguous: new Map([["u3", ["/a/kubepods/podu3", "/b/kubepods/podu3"]]]),
    };
    const result = await place(scan, [pod("web-1", "u1"), pod("web-2", "u2"), pod("web-3", "u3"), pod("web-9", "u9", "bob")]);
    expect(result.placed).toEqual(["web-1"]);
    // Bob's pod is not selected at all, so not reported either.
    expect(result.unplaced.map((p) => p.name)).toEqual(["web-2", "web-3"]);
    expect(result.unplaced[0]!.reason).toMatch(/^no root-owned cgroup v2 directory named after its UID \(podu2\): not started yet, finished/);
    expect(result.unplaced[1]!.reason).toBe(
      "its UID names cgroups in 2 places (/a/kubepods/podu3, /b/kubepods/podu3): which one is the kubelet's cannot be told",
    );
  });

  it("on a node without a cgroup v2 hierarchy, every selected pod is reported as such", async () => {
    const result = await place({ pods: new Map(), ambiguous: new Map(), noCgroup2: true }, [pod("web-1", "u1"), pod("web-2", "u2")]);
    expect(result.placed).toEqual([]);
    expect(result.unplaced).toEqual([
      { name: "web-1", reason: "this node has no cgroup v2 hierarchy (cgroup v1 only), and pod scope attaches to cgroup v2" },
      { name: "web-2", reason: "this node has no cgroup v2 hierarchy (cgroup v1 only), and pod scope attaches to cgroup v2" },
    ]);
  });

  it("a pod whose cgroup is the hierarchy's root is never placed (nothing attaches to the root cgroup)", async () => {
    const result = await place({ pods: new Map([["u1", cgroup("u1", "/")]]), ambiguous: new Map() }, [pod("web-1", "u1")]);
    expect(result.placed).toEqual([]);
    expect(result.unplaced.map((p) => p.name)).toEqual(["web-1"]);
  });
});
