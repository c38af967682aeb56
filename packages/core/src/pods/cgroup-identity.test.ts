import { describe, expect, it } from "vitest";
import { CgroupIdentities } from "./cgroup-identity.js";
import type { PodCgroup, PodCgroupScan } from "./pod-cgroups.js";
import { StaticPodSource } from "./pod-source.js";

const cgroup = (uid: string, id: bigint, containers: [string, bigint][] = []): PodCgroup => ({
  directory: `/sys/fs/cgroup/kubepods/pod${uid}`,
  path: `/kubepods/pod${uid}`,
  id,
  level: 2,
  podUid: uid,
  driver: "cgroupfs",
  containers: containers.map(([containerId, cid]) => ({
    directory: "",
    path: "",
    id: cid,
    level: 3,
    containerId,
    runtime: "unknown",
    conmon: false,
  })),
});

function setup(cgroups: PodCgroup[], options: { negativeMax?: number; negativeTtlMs?: number; rescanIntervalMs?: number } = {}) {
  let now = 1_000_000;
  const state = { cgroups, scans: 0 };
  const pods = new StaticPodSource([
    { uid: "a", namespace: "alice", name: "web-1", labels: {}, deleting: false },
    { uid: "b", namespace: "bob", name: "web-1", labels: {}, deleting: false },
  ]);
  const identities = new CgroupIdentities({
    scan: async (): Promise<PodCgroupScan> => {
      state.scans++;
      return { pods: new Map(state.cgroups.map((c) => [c.podUid, c])), ambiguous: new Map() };
    },
    pods,
    now: () => now,
    ...options,
  });
  return { identities, pods, state, advance: (ms: number) => (now += ms) };
}

describe("CgroupIdentities", () => {
  it("names a pod's cgroup and its containers' by the API server's pod names", async () => {
    const { identities } = setup([cgroup("a", 10n, [["c1", 11n]]), cgroup("b", 20n), cgroup("not-on-the-api-server", 30n)]);
    await identities.refresh();
    expect(identities.lookup(10n)).toEqual({ namespace: "alice", pod: "web-1", uid: "a" });
    expect(identities.lookup(11n)).toEqual({ namespace: "alice", pod: "web-1", uid: "a", containerId: "c1" });
    expect(identities.lookup(20n)?.namespace).toBe("bob");
    expect(identities.lookup(30n)).toBeUndefined(); // a pod-looking cgroup the API server does not know
  });

  it("stays bounded under a churn of 10,000 short-lived cgroups", async () => {
    const { identities, state } = setup([cgroup("a", 10n)], { negativeMax: 512, rescanIntervalMs: 2_000 });
    await identities.refresh();
    for (let i = 0; i < 10_000; i++) expect(identities.lookup(1_000_000n + BigInt(i))).toBeUndefined();
    expect(identities.sizes).toEqual({ known: 1, unknown: 512 });
    // One rescan for the whole burst (rate-limited), not one per id.
    await identities.refresh();
    expect(state.scans).toBeLessThanOrEqual(3);
  });

  it("looks an unknown id up again after its time-to-live, and learns a pod that appeared", async () => {
    const { identities, state, advance } = setup([], { negativeTtlMs: 30_000, rescanIntervalMs: 2_000 });
    await identities.refresh();
    expect(identities.lookup(10n)).toBeUndefined();
    state.cgroups = [cgroup("a", 10n)];
    advance(5_000);
    expect(identities.lookup(10n)).toBeUndefined(); // still in the negative cache: no rescan for it
    const scans = state.scans;
    advance(30_000);
    expect(identities.lookup(10n)).toBeUndefined(); // expired: asks for a rescan
    expect(state.scans).toBe(scans + 1);
    await identities.refresh();
    expect(identities.lookup(10n)?.pod).toBe("web-1");
  });

  it("forgets a deleted pod's ids on the next refresh", async () => {
    const { identities, pods } = setup([cgroup("a", 10n)]);
    await identities.refresh();
    expect(identities.lookup(10n)).toBeDefined();
    pods.delete("a");
    await identities.refresh();
    expect(identities.lookup(10n)).toBeUndefined();
    expect(identities.sizes.known).toBe(0);
  });
});
