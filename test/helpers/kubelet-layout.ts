/**
 * For kernel tests of pod scope: the layout a kubelet and containerd make for pods on a node,
 * made by the test itself (no kubelet runs in the kernel project). Cgroups: below a cgroup of
 * the test's own (the kubelet's `cgroupRoot`), never the root cgroup — the cgroupfs driver's
 * `kubepods/besteffort/pod<uid>/<container id>` or the systemd driver's
 * `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope`.
 * Network (`withNetwork`): a network namespace per pod with a veth pair, the host end in the
 * test's namespace, the pod's end `eth0` inside (what a CNI plugin makes), and a long-running
 * process of the pod (the sandbox's pause process) in its container cgroup, holding the
 * namespace. `remove()` undoes everything, pass or fail.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { PodInfo } from "@ebpf-operator/core";
import { findCgroup2Mount } from "../../packages/plugin-cgroup/src/cgroup-mount.js";

export interface FakePod {
  info: PodInfo;
  /** The pod's cgroup (below the test's kubelet root) and its first container's. */
  podDir: string;
  containerDir: string;
  /** The first container's runtime id (what `status.containerStatuses[].containerID` holds after `containerd://`). */
  containerId: string;
}

/** A container of a pod: its runtime id and its cgroup. */
export interface FakeContainer {
  id: string;
  dir: string;
}

/** A pod's network, as a CNI plugin makes it. */
export interface PodNetwork {
  netns: string;
  /** The veth end in the test's (the node's) namespace. */
  hostIf: string;
  hostAddress: string;
  /** The pod's address, on `eth0` inside its namespace. */
  podAddress: string;
  /** The pod's sandbox process, in its container cgroup, in its namespace. */
  process: ChildProcess;
}

export type NetworkedPod = FakePod & { network: PodNetwork };

const hex = () => randomUUID().replaceAll("-", "");

function run(args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: "pipe" });
}

export class KubeletLayout {
  private readonly made: string[] = [];
  private readonly networks: PodNetwork[] = [];
  private networkCount = 0;

  /** `top`: the kubelet's cgroupRoot, a new directory below the cgroup v2 mount (made here). */
  constructor(readonly top: string) {
    mkdirSync(top);
  }

  /** The layout rooted at `<cgroup v2 mount>/<name>`; `name` should carry process.pid (tests run side by side). */
  static async create(name: string): Promise<KubeletLayout> {
    const mount = await findCgroup2Mount();
    if (!mount) throw new Error("kernel tests need a cgroup v2 hierarchy");
    return new KubeletLayout(join(mount, name));
  }

  /** Makes the cgroups of a path below the root that are missing; returns its directory. */
  mkcgroup(relative: string): string {
    let dir = this.top;
    for (const part of relative.split("/")) {
      dir = join(dir, part);
      if (!existsSync(dir)) {
        mkdirSync(dir);
        this.made.push(dir);
      }
    }
    return dir;
  }

  /** A pod as the kubelet (cgroupfs or systemd driver) and containerd lay it out, with one container. */
  makePod(namespace: string, name: string, driver: "cgroupfs" | "systemd", labels: Record<string, string> = { app: "web" }): FakePod {
    const uid = randomUUID();
    const container = `${hex()}${hex()}`;
    const podPath =
      driver === "cgroupfs"
        ? `kubepods/besteffort/pod${uid}`
        : `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replaceAll("-", "_")}.slice`;
    const containerPath = driver === "cgroupfs" ? `${podPath}/${container}` : `${podPath}/cri-containerd-${container}.scope`;
    const podDir = this.mkcgroup(podPath);
    const containerDir = this.mkcgroup(containerPath);
    return { info: { uid, namespace, name, labels, deleting: false }, podDir, containerDir, containerId: container };
  }

  /**
   * Another container of a pod, as containerd makes it (a new runtime id, its cgroup beside the
   * pod's others: `<id>` under the cgroupfs driver, `cri-containerd-<id>.scope` under systemd). A
   * restarted container is one of these too: the kubelet starts a new instance with a new id.
   */
  makeContainer(pod: FakePod): FakeContainer {
    const id = `${hex()}${hex()}`;
    const systemd = pod.podDir.endsWith(".slice");
    const relative = `${pod.podDir.slice(this.top.length + 1)}/${systemd ? `cri-containerd-${id}.scope` : id}`;
    return { id, dir: this.mkcgroup(relative) };
  }

  /** Removes a container's cgroup (after its processes are gone), as the runtime does when it exits. */
  async removeContainer(container: FakeContainer): Promise<void> {
    await removeCgroup(container.dir);
  }

  /**
   * A pod with a network: its cgroups, a network namespace with a veth pair (`10.<subnet>.<n>.0/30`,
   * the host end .1, the pod's eth0 .2; no IPv6, so no neighbour discovery in the counts), and a
   * sandbox process in the namespace and the container cgroup. `hostNetwork`: no namespace, the
   * process stays in the test's own (the node's) network namespace.
   */
  async makeNetworkedPod(
    namespace: string,
    name: string,
    driver: "cgroupfs" | "systemd",
    options: { subnet: number; labels?: Record<string, string>; hostNetwork?: boolean },
  ): Promise<NetworkedPod> {
    const pod = this.makePod(namespace, name, driver, options.labels);
    const n = this.networkCount++;
    const tag = `${process.pid % 100000}${n}`;
    const netns = options.hostNetwork ? "" : `eop-pod-${tag}`;
    const hostIf = options.hostNetwork ? "" : `eopp${tag}`;
    const octet = (process.pid % 60) * 4 + n; // one /30 per pod within a /24 of the subnet's
    const hostAddress = `10.${options.subnet}.${octet}.1`;
    const podAddress = `10.${options.subnet}.${octet}.2`;
    const network: PodNetwork = { netns, hostIf, hostAddress, podAddress, process: undefined as unknown as ChildProcess };
    this.networks.push(network);
    if (!options.hostNetwork) {
      run(["netns", "add", netns]);
      run(["link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", netns]);
      execFileSync("sysctl", ["-q", "-w", `net.ipv6.conf.${hostIf}.disable_ipv6=1`]);
      run(["netns", "exec", netns, "sysctl", "-q", "-w", "net.ipv6.conf.eth0.disable_ipv6=1"]);
      run(["addr", "add", `${hostAddress}/30`, "dev", hostIf]);
      run(["link", "set", hostIf, "up"]);
      run(["-n", netns, "addr", "add", `${podAddress}/30`, "dev", "eth0"]);
      run(["-n", netns, "link", "set", "eth0", "up"]);
      run(["-n", netns, "link", "set", "lo", "up"]);
    }
    // The sandbox's process: `ip netns exec` execs sleep, so the pid is the sleeper's.
    const child = options.hostNetwork
      ? spawn("sleep", ["100000"], { stdio: "ignore" })
      : spawn("ip", ["netns", "exec", netns, "sleep", "100000"], { stdio: "ignore" });
    network.process = child;
    await sleep(50);
    writeFileSync(join(pod.containerDir, "cgroup.procs"), String(child.pid));
    if (!options.hostNetwork) {
      // Wait until the exec'd sleeper is in the namespace (ip enters it before exec).
      for (let i = 0; i < 50 && !readFileSync(`/proc/${child.pid}/cmdline`, "utf8").startsWith("sleep"); i++) await sleep(20);
    }
    return { ...pod, network };
  }

  /** Removes a pod's network (the namespace and its veth go with it) and ends its process. */
  async removeNetwork(network: PodNetwork): Promise<void> {
    if (network.process && network.process.exitCode === null && network.process.signalCode === null) {
      const exited = new Promise((resolve) => network.process.once("exit", resolve));
      network.process.kill("SIGKILL");
      await exited;
    }
    if (network.hostIf) {
      try {
        run(["link", "del", network.hostIf]);
      } catch {
        // gone with the namespace, or never made
      }
    }
    if (network.netns) {
      try {
        run(["netns", "del", network.netns]);
      } catch {
        // never made
      }
    }
  }

  /** Removes a pod's cgroups (after its processes are gone). */
  async removePod(pod: FakePod): Promise<void> {
    for (const dir of [pod.containerDir, pod.podDir]) await removeCgroup(dir);
  }

  async remove(): Promise<void> {
    for (const network of this.networks) await this.removeNetwork(network);
    for (const dir of [...this.made].reverse()) await removeCgroup(dir);
    await removeCgroup(this.top);
  }
}

/** Removes an empty cgroup, waiting a moment for processes that just finished to leave it. */
export async function removeCgroup(dir: string): Promise<void> {
  for (let i = 0; i < 50 && existsSync(dir); i++) {
    try {
      rmdirSync(dir);
    } catch {
      await sleep(20); // a finished process leaves its cgroup a moment later
    }
  }
}

/** Polls `probe` until `ok` (every 100 ms, up to `ms`); throws naming `what` and the last value. */
export async function until<T>(what: string, probe: () => Promise<T> | T, ok: (value: T) => boolean, ms = 8000): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await probe();
  while (!ok(value) && Date.now() < deadline) {
    await sleep(100);
    value = await probe();
  }
  if (!ok(value)) throw new Error(`${what}: still ${JSON.stringify(value)} after ${ms} ms`);
  return value;
}
