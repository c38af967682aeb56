/**
 * Pod discovery on the real kernel. No kubelet runs here: the test makes the kubelet's and the
 * runtimes' cgroup v2 layout itself (containerd under the cgroupfs and the systemd driver, CRI-O
 * under cgroupfs with its conmon cgroup) below a cgroup of its own (as a kubelet `cgroupRoot`,
 * never the root cgroup), puts real processes in the pods' cgroups, and gives one pod a
 * test-created network namespace the way a runtime does (a sandbox process holding it, the
 * containers joining it). Everything is removed afterwards, pass or fail.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readFileSync, rmdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireKernelCapabilities } from "../../../../test/helpers/kernel.js";
import { findCgroup2MountInfo, type Cgroup2Mount } from "./cgroup-mount.js";
import { CgroupIdentities } from "./cgroup-identity.js";
import { PodCgroupIndex, cgroupPids } from "./pod-cgroups.js";
import { podNetns } from "./pod-netns.js";
import { StaticPodSource } from "./pod-source.js";

requireKernelCapabilities();

const hex = () => randomUUID().replaceAll("-", "");
const containerId = () => `${hex()}${hex()}`;

let mount: Cgroup2Mount;
let top: string;
const made: string[] = [];
const children: ChildProcess[] = [];
const netns = `eop-pods-${process.pid}`;

const alice = { uid: randomUUID(), sandbox: containerId(), app: containerId() };
const bob = { uid: randomUUID(), sandbox: containerId(), app: containerId() };
const carol = { uid: randomUUID(), app: containerId() };
const twice = randomUUID();

function cgroup(relative: string, owner = 0): string {
  const parts = relative.split("/");
  let dir = top;
  for (const part of parts) {
    dir = join(dir, part);
    if (!existsSync(dir)) {
      mkdirSync(dir);
      made.push(dir);
      if (owner !== 0) chownSync(dir, owner, owner);
    }
  }
  return dir;
}

/** A process in `cgroupDir` (and in the test's network namespace when `inNetns`), as a runtime starts one. */
async function startIn(cgroupDir: string, options: { inNetns?: boolean; unshareNet?: boolean } = {}): Promise<number> {
  // Into the cgroup first: `ip netns exec` remounts /sys, hiding the cgroup mount. It execs in place (same pid).
  const enter = options.inNetns ? `ip netns exec ${netns} ` : options.unshareNet ? "unshare -n " : "";
  const child = spawn("sh", ["-c", `echo $$ > ${join(cgroupDir, "cgroup.procs")} && exec ${enter}sleep 600`], { stdio: "ignore" });
  children.push(child);
  // Joined once the cgroup lists it; then a tick so start times differ (USER_HZ is 100).
  for (let i = 0; i < 100; i++) {
    const pids = await cgroupPids(cgroupDir);
    if (pids.length > 0 && pids.some((pid) => !children.slice(0, -1).some((c) => c.pid === pid))) break;
    await sleep(20);
  }
  await sleep(30);
  return child.pid!;
}

beforeAll(async () => {
  const found = await findCgroup2MountInfo();
  if (!found) throw new Error("the kernel tests need a cgroup v2 hierarchy (this machine mounts one at /sys/fs/cgroup or /sys/fs/cgroup/unified)");
  mount = found;
  top = join(mount.path, `eop-test-pods-${process.pid}`);
  mkdirSync(top);
  execFileSync("ip", ["netns", "add", netns]);
  // alice: containerd, cgroupfs driver, BestEffort; a sandbox holding the network namespace, an app container joining it.
  const alicePod = `kubepods/besteffort/pod${alice.uid}`;
  await startIn(cgroup(`${alicePod}/${alice.sandbox}`), { inNetns: true });
  await startIn(cgroup(`${alicePod}/${alice.app}`), { inNetns: true });
  // ... and a process in her app container that made a network namespace of its own later.
  await startIn(cgroup(`${alicePod}/${alice.app}`), { unshareNet: true });
  // bob: containerd, systemd driver, Burstable; hostNetwork (the node's namespace).
  const bobPod = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${bob.uid.replaceAll("-", "_")}.slice`;
  await startIn(cgroup(`${bobPod}/cri-containerd-${bob.sandbox}.scope`));
  await startIn(cgroup(`${bobPod}/cri-containerd-${bob.app}.scope`));
  // carol: CRI-O, cgroupfs, Guaranteed: the container and conmon beside it; no process.
  cgroup(`kubepods/pod${carol.uid}/crio-${carol.app}`);
  cgroup(`kubepods/pod${carol.uid}/crio-conmon-${carol.app}`);
  // A cgroup delegated to an unprivileged user (uid 65534), who copies alice's pod path below it.
  cgroup("delegated", 65534);
  cgroup(`delegated/kubepods/besteffort/pod${alice.uid}/${alice.app}`, 65534);
  // The same UID in two root-owned places.
  cgroup(`kubepods/besteffort/pod${twice}`);
  cgroup(`other/kubepods/pod${twice}`);
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once("exit", r)) : undefined)));
  for (const dir of [...made].reverse()) {
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(dir);
        break;
      } catch {
        await sleep(20); // a killed process leaves its cgroup a moment later
      }
    }
  }
  if (top) rmdirSync(top, { recursive: false });
  execFileSync("ip", ["netns", "del", netns], { stdio: "ignore" });
});

describe("pod discovery from the kernel's cgroup tree and /proc", () => {
  it("finds each pod by its UID, in every layout, with its containers, ids and levels", async () => {
    const scan = await new PodCgroupIndex(mount).scan([alice.uid, bob.uid, carol.uid]);
    const a = scan.pods.get(alice.uid);
    expect(a?.directory).toBe(join(top, `kubepods/besteffort/pod${alice.uid}`));
    expect(a).toMatchObject({ driver: "cgroupfs", id: statSync(a!.directory, { bigint: true }).ino });
    expect(a?.level).toBe(a!.path.split("/").length - 1);
    expect(a?.containers.map((c) => c.containerId).sort()).toEqual([alice.app, alice.sandbox].sort());
    const b = scan.pods.get(bob.uid);
    expect(b).toMatchObject({ driver: "systemd" });
    expect(b?.containers.map((c) => [c.containerId, c.runtime]).sort()).toEqual(
      [
        [bob.app, "containerd"],
        [bob.sandbox, "containerd"],
      ].sort(),
    );
    const c = scan.pods.get(carol.uid);
    expect(c?.containers.map((x) => [x.containerId, x.conmon]).sort()).toEqual([
      [carol.app, false],
      [carol.app, true],
    ]);
  });

  it("never takes a pod cgroup from a tree an unprivileged user owns, and leaves a UID found twice out", async () => {
    const scan = await new PodCgroupIndex(mount).scan([alice.uid, twice]);
    expect(scan.pods.get(alice.uid)?.directory).toBe(join(top, `kubepods/besteffort/pod${alice.uid}`));
    expect(scan.ambiguous.has(alice.uid)).toBe(false);
    expect(scan.pods.has(twice)).toBe(false);
    expect(scan.ambiguous.get(twice)?.length).toBe(2);
  });

  it("gives a pod's network namespace from its earliest process, and says when it is the node's", async () => {
    const scan = await new PodCgroupIndex(mount).scan([alice.uid, bob.uid]);
    const aliceNetns = await podNetns(await cgroupPids(scan.pods.get(alice.uid)!.directory));
    const expected = statSync(`/run/netns/${netns}`, { bigint: true });
    // Three processes: the sandbox's is the first, and the one that unshared its own namespace later does not count.
    const pids = await cgroupPids(scan.pods.get(alice.uid)!.directory);
    expect(pids).toHaveLength(3);
    const inodes = pids.map((pid) => statSync(`/proc/${pid}/ns/net`, { bigint: true }).ino);
    expect(inodes.filter((ino) => ino !== expected.ino)).toHaveLength(1); // the decoy is there
    expect(aliceNetns).toMatchObject({ inode: expected.ino, dev: expected.dev, hostNetwork: false });
    const bobNetns = await podNetns(await cgroupPids(scan.pods.get(bob.uid)!.directory));
    expect(bobNetns?.hostNetwork).toBe(true);
    expect(await podNetns([])).toBeUndefined();
  });

  it("names a process's cgroup id (what bpf_get_current_cgroup_id() returns) by the API server's pod", async () => {
    const index = new PodCgroupIndex(mount);
    const pods = new StaticPodSource([{ uid: alice.uid, namespace: "alice", name: "web-1", labels: {}, deleting: false }]);
    const identities = new CgroupIdentities({ scan: (wanted) => index.scan(wanted), pods });
    await identities.refresh();
    const scan = await index.scan([alice.uid, bob.uid]);
    // A process of alice's app container: its cgroup (from /proc) has the container's id.
    const pid = (await cgroupPids(join(scan.pods.get(alice.uid)!.directory, alice.app)))[0]!;
    const cgroupPath = readFileSync(`/proc/${pid}/cgroup`, "utf8").match(/^0::(.*)$/m)![1]!;
    const id = statSync(join(mount.path, cgroupPath.slice(mount.root === "/" ? 0 : mount.root.length)), { bigint: true }).ino;
    expect(identities.lookup(id)).toEqual({ namespace: "alice", pod: "web-1", uid: alice.uid, containerId: alice.app });
    expect(identities.lookup(scan.pods.get(alice.uid)!.id)).toEqual({ namespace: "alice", pod: "web-1", uid: alice.uid });
    // bob's pod is in the kernel but not in this source: not named.
    expect(identities.lookup(scan.pods.get(bob.uid)!.id)).toBeUndefined();
  });

  it("follows churn: a new pod is found on the next scan, a removed one is gone from it", async () => {
    const index = new PodCgroupIndex(mount, { fullWalkIntervalMs: 0 });
    expect((await index.scan()).pods.has(carol.uid)).toBe(true);
    const dave = randomUUID();
    const daveDir = cgroup(`kubepods/burstable/pod${dave}`);
    expect((await index.scan([dave])).pods.get(dave)?.directory).toBe(daveDir);
    rmdirSync(daveDir);
    made.splice(made.indexOf(daveDir), 1);
    expect((await index.scan()).pods.has(dave)).toBe(false);
  });
});
