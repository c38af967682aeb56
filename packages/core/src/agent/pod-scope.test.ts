/**
 * scopedPods: the selected pods it places in the cgroup v2 tree, and those it cannot place, with
 * the reason the resource's status gives (EOP_ERR_POD_CGROUP_NOT_FOUND). The scans are made up
 * here (pure logic); the kernel's tree is walked by pods/pod-discovery.kernel.test.ts, and real
 * pods are placed by test/node/pod-scope.node.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { ContainerCgroup, PodCgroup, PodCgroupScan } from "../pods/pod-cgroups.js";
import { StaticPodSource, type PodInfo } from "../pods/pod-source.js";
import { containerIdTable, needsContainerNames, podIdTable, scopedPods, targetCgroup, type UnplacedPod } from "./pod-scope.js";

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

describe("selector.container: one container of each selected pod", () => {
  const id = (c: string) => c.repeat(64);
  const containerCgroup = (podPath: string, containerId: string, cgroupId: bigint, conmon = false): ContainerCgroup => ({
    directory: `/sys/fs/cgroup${podPath}/${containerId}`,
    path: `${podPath}/${containerId}`,
    id: cgroupId,
    level: 4,
    containerId,
    runtime: "unknown",
    conmon,
  });
  const podWith = (uid: string, containers: ContainerCgroup[]): PodCgroup => ({ ...cgroup(uid, `/kubepods/besteffort/pod${uid}`), containers });
  // web-1: the sandbox (a), server (b), sidecar (c); web-2: server not running yet (its status names none).
  const scan: PodCgroupScan = {
    pods: new Map([
      [
        "u1",
        podWith("u1", [
          containerCgroup("/kubepods/besteffort/podu1", id("a"), 1001n),
          containerCgroup("/kubepods/besteffort/podu1", id("b"), 1002n),
          containerCgroup("/kubepods/besteffort/podu1", id("c"), 1003n),
        ]),
      ],
      ["u2", podWith("u2", [containerCgroup("/kubepods/besteffort/podu2", id("d"), 2001n)])],
      ["u3", podWith("u3", [containerCgroup("/kubepods/besteffort/podu3", id("e"), 3001n, true)])],
    ]),
    ambiguous: new Map(),
  };
  const source = () => {
    const s = new StaticPodSource([pod("web-1", "u1"), pod("web-2", "u2"), pod("web-3", "u3")]);
    s.setContainers("u1", [
      { name: "server", id: id("b") },
      { name: "sidecar", id: id("c") },
    ]);
    s.setContainers("u2", [{ name: "sidecar", id: id("d") }]);
    // CRI-O's conmon cgroup carries the container's id: never the container itself.
    s.setContainers("u3", [{ name: "server", id: id("e") }]);
    return s;
  };
  const scoped = async (selector: { matchLabels?: Record<string, string>; container?: string }, src = source()) => {
    const unplaced: UnplacedPod[] = [];
    const placed = await scopedPods({ source: src, scan: () => Promise.resolve(scan) }, "alice", selector, unplaced);
    return { placed, unplaced, src };
  };

  it("places the named container's cgroup, matched by the runtime id in the pod's status, as the target", async () => {
    const { placed, unplaced, src } = await scoped({ matchLabels: { app: "web" }, container: "server" });
    expect(placed.map((p) => [p.name, p.container?.name, targetCgroup(p).id])).toEqual([["web-1", "server", 1002n]]);
    expect(podIdTable(placed)).toEqual(new Map([[1002n, "web-1"]]));
    expect(containerIdTable(src, placed)).toEqual(new Map([[1002n, "server"]]));
    expect(unplaced).toEqual([
      { name: "web-2", reason: expect.stringMatching(/^spec\.selector\.container: the pod's status names no running container "server"/) },
      { name: "web-3", reason: expect.stringMatching(/^spec\.selector\.container: no root-owned cgroup named after container "server" \(id eeeeeeeeeeee\)/) },
    ]);
  });

  it("a restarted container (new id in the status) is placed under its new cgroup; until it appears, the pod is reported", async () => {
    const src = source();
    src.setContainers("u1", [
      { name: "server", id: id("f") },
      { name: "sidecar", id: id("c") },
    ]);
    const { placed, unplaced } = await scoped({ container: "server" }, src);
    expect(placed.map((p) => p.name)).toEqual([]);
    expect(unplaced.map((p) => p.name)).toEqual(["web-1", "web-2", "web-3"]);
  });

  it("without selector.container the pod is the target, and the container table names every container its status names", async () => {
    const { placed, src } = await scoped({ matchLabels: { app: "web" } });
    expect(placed.map((p) => [p.name, p.container, targetCgroup(p).id])).toEqual([
      ["web-1", undefined, 1000n],
      ["web-2", undefined, 1000n],
      ["web-3", undefined, 1000n],
    ]);
    // The sandbox (a) and conmon (e) have no name: their rows are dropped.
    expect(containerIdTable(src, placed)).toEqual(
      new Map([
        [1002n, "server"],
        [1003n, "sidecar"],
        [2001n, "sidecar"],
      ]),
    );
  });

  it("a source that knows no containers places no container and names none", async () => {
    const src = new StaticPodSource([pod("web-1", "u1")]);
    const { placed, unplaced } = await scoped({ container: "server" }, src);
    expect(placed).toEqual([]);
    expect(unplaced).toEqual([{ name: "web-1", reason: expect.stringContaining('names no running container "server"') }]);
    expect(containerIdTable(src, (await scoped({}, src)).placed)).toEqual(new Map());
  });

  it("the container names are asked for only by resources that use them", () => {
    expect(needsContainerNames({ selector: { container: "server" } })).toBe(true);
    expect(
      needsContainerNames({
        selector: {},
        metrics: [{ name: "m", map: "m", labels: [{ name: "container", decoders: [{ name: "uint" }, { name: "container" }] }] }],
      }),
    ).toBe(true);
    expect(
      needsContainerNames({ selector: {}, metrics: [{ name: "m", map: "m", labels: [{ name: "pod", decoders: [{ name: "uint" }, { name: "pod" }] }] }] }),
    ).toBe(false);
    expect(needsContainerNames({})).toBe(false);
  });
});
