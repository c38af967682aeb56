import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { PodLabels } from "../agent/pod-labels.js";
import { crossNamespaceDecoderUses } from "../api/metrics-check.js";
import { SKIP } from "../plugin/sdk.js";
import type { PodCgroup, PodCgroupScan } from "../pods/pod-cgroups.js";
import { StaticPodSource } from "../pods/pod-source.js";
import { cgroupContainer, cgroupNamespace, cgroupPod } from "./cgroup-pod.js";
import { CORE_DECODERS, DecoderRegistry, runChain } from "./registry.js";

const le64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};

const cgroup = (uid: string, id: bigint, containers: [string, bigint][] = []): PodCgroup => ({
  directory: `/sys/fs/cgroup/kubepods/pod${uid}`,
  path: `/kubepods/pod${uid}`,
  id,
  level: 2,
  podUid: uid,
  driver: "cgroupfs",
  containers: containers.map(([containerId, cid]) => ({ directory: "", path: "", id: cid, level: 3, containerId, runtime: "unknown", conmon: false })),
});

/** The agent's wiring (host/container.ts) over a node whose pods and cgroups the test says. */
function node(options: { negativeMax?: number; negativeTtlMs?: number; rescanIntervalMs?: number } = {}) {
  let now = 1_000_000;
  const state = { cgroups: [cgroup("a", 10n, [["c1", 11n]]), cgroup("b", 20n)], scans: 0 };
  const pods = new StaticPodSource([
    { uid: "a", namespace: "alice", name: "web-1", labels: {}, deleting: false },
    { uid: "b", namespace: "bob", name: "db-0", labels: {}, deleting: false },
  ]);
  const labels = new PodLabels(
    {
      source: pods,
      scan: async (): Promise<PodCgroupScan> => {
        state.scans++;
        return { pods: new Map(state.cgroups.map((c) => [c.podUid, c])), ambiguous: new Map() };
      },
    },
    { now: () => now, ...options },
  );
  const registry = new DecoderRegistry({ ...CORE_DECODERS, ...Object.fromEntries(labels.decoders().map((d) => [d.name, d])) });
  const namespaceOf = registry.chain([{ name: "uint" }, { name: "cgroup_namespace" }], "f");
  const podOf = registry.chain([{ name: "uint" }, { name: "cgroup_pod" }], "f");
  const decode = (id: bigint) => [runChain(namespaceOf, le64(id)), runChain(podOf, le64(id))];
  /** The first lookup starts the cache; its scan answers the next ones. */
  const warm = async () => {
    decode(0n);
    await labels.identities.refresh();
  };
  return { labels, pods, state, decode, warm, advance: (ms: number) => (now += ms) };
}

describe("cgroup_namespace and cgroup_pod", () => {
  it("name a cgroup id's pod (its own cgroup or a container's), in any namespace, as two labels", async () => {
    const { decode, warm } = node();
    await warm();
    expect(decode(10n)).toEqual(["alice", "web-1"]);
    expect(decode(11n)).toEqual(["alice", "web-1"]);
    expect(decode(20n)).toEqual(["bob", "db-0"]);
  });

  it("cgroup_container names a container's cgroup once asked for (it starts the pods' container watch), and drops the pod's own cgroup and unnamed containers", async () => {
    const { labels, pods, warm } = node();
    pods.setContainers("a", [{ name: "server", id: "c1" }]);
    const registry = new DecoderRegistry({ ...CORE_DECODERS, ...Object.fromEntries(labels.decoders().map((d) => [d.name, d])) });
    const containerOf = registry.chain([{ name: "uint" }, { name: "cgroup_container" }], "f");
    await warm();
    expect(pods.watchingContainers).toBe(false); // cgroup_namespace / cgroup_pod never ask
    expect(runChain(containerOf, le64(11n))).toBe("server");
    expect(pods.watchingContainers).toBe(true);
    expect(runChain(containerOf, le64(10n))).toBe(SKIP); // the pod's own cgroup: no container
    expect(runChain(containerOf, le64(20n))).toBe(SKIP); // bob's pod: no container cgroup
    expect(runChain(containerOf, le64(999n))).toBe(SKIP);
    // A restart: the status names a new id; the old container cgroup is no container of that name any more.
    pods.setContainers("a", [{ name: "server", id: "c2" }]);
    await sleep(20);
    await labels.identities.refresh();
    expect(runChain(containerOf, le64(11n))).toBe(SKIP);
    expect(new DecoderRegistry().get("cgroup_container")).toBe(cgroupContainer);
  });

  it("drop the row of an id that names no pod (a host cgroup, a made-up number) and of input that is not an id", async () => {
    const { decode, warm, labels } = node();
    await warm();
    expect(decode(999n)).toEqual([SKIP, SKIP]);
    expect(decode(2n ** 64n - 1n)).toEqual([SKIP, SKIP]);
    const [, pod] = labels.decoders();
    expect(pod!.decode(Buffer.from("web-1"), {})).toBe(SKIP);
    expect(pod!.decode(Buffer.from("-10"), {})).toBe(SKIP);
    expect(pod!.decode(Buffer.from(""), {})).toBe(SKIP);
  });

  it("drop every row in core's registry (no pods there)", () => {
    const core = new DecoderRegistry();
    expect(core.get("cgroup_pod")).toBe(cgroupPod);
    expect(core.get("cgroup_namespace")).toBe(cgroupNamespace);
    expect(runChain(core.chain([{ name: "uint" }, { name: "cgroup_pod" }], "f"), le64(10n))).toBe(SKIP);
  });

  it("keep the negative cache bounded under a churn of 10,000 unknown ids, with one rescan for the burst", async () => {
    const { decode, warm, labels, state } = node({ negativeMax: 256, rescanIntervalMs: 2_000 });
    await warm();
    const scans = state.scans;
    for (let i = 0; i < 10_000; i++) expect(decode(1_000_000n + BigInt(i))).toEqual([SKIP, SKIP]);
    expect(labels.identities.sizes).toEqual({ known: 3, unknown: 256 });
    expect(state.scans).toBe(scans); // the warm-up scan was under 2 s ago: no rescan at all
    expect(decode(10n)).toEqual(["alice", "web-1"]); // known ids are unaffected by the churn
  });

  it("answer an unknown id from the negative cache until its time-to-live, then learn the pod that appeared", async () => {
    const { decode, warm, state, pods, advance, labels } = node({ negativeTtlMs: 30_000, rescanIntervalMs: 2_000 });
    await warm();
    expect(decode(30n)).toEqual([SKIP, SKIP]);
    // The kernel has the cgroup now, but the API server does not list the pod yet: still no name.
    state.cgroups.push(cgroup("c", 30n));
    advance(5_000);
    const scans = state.scans;
    expect(decode(30n)).toEqual([SKIP, SKIP]); // in the negative cache: asks for no rescan
    expect(state.scans).toBe(scans);
    pods.set({ uid: "c", namespace: "carol", name: "job-x", labels: {}, deleting: false }); // pod churn: one refresh
    await sleep(20);
    await labels.identities.refresh();
    expect(decode(30n)).toEqual(["carol", "job-x"]);
    // A deleted pod's ids are forgotten at the next refresh.
    pods.delete("c");
    await sleep(20);
    await labels.identities.refresh();
    expect(decode(30n)).toEqual([SKIP, SKIP]);
    advance(31_000);
    expect(decode(30n)).toEqual([SKIP, SKIP]);
  });

  it("look an expired unknown id up again with one rescan", async () => {
    const { decode, warm, state, advance } = node({ negativeTtlMs: 30_000, rescanIntervalMs: 2_000 });
    await warm();
    expect(decode(40n)).toEqual([SKIP, SKIP]);
    const scans = state.scans;
    advance(31_000);
    expect(decode(40n)).toEqual([SKIP, SKIP]); // expired: looked up again, a rescan asked for
    expect(state.scans).toBe(scans + 1);
  });

  it("are listed where a spec uses them, for the tenancy policy", () => {
    expect(
      crossNamespaceDecoderUses({
        metrics: [
          { name: "a", map: "m", labels: [{ name: "x", decoders: [{ name: "uint" }] }] },
          {
            name: "b",
            map: "m",
            labels: [
              { name: "pod_namespace", field: "cgroup", decoders: [{ name: "uint" }, { name: "cgroup_namespace" }] },
              { name: "pod_name", field: "cgroup", decoders: [{ name: "uint" }, { name: "cgroup_pod" }] },
              { name: "container_name", field: "cgroup", decoders: [{ name: "uint" }, { name: "cgroup_container" }] },
            ],
          },
        ],
      }),
    ).toEqual([
      { field: "spec.metrics[1].labels[0].decoders[1]", decoder: "cgroup_namespace" },
      { field: "spec.metrics[1].labels[1].decoders[1]", decoder: "cgroup_pod" },
      { field: "spec.metrics[1].labels[2].decoders[1]", decoder: "cgroup_container" },
    ]);
    expect(crossNamespaceDecoderUses({})).toEqual([]);
  });
});
