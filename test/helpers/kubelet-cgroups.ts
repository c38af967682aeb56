/**
 * The kubelet's cgroup v2 layout, made by a test where no kubelet runs (the kernel project):
 * pods as the kubelet and containerd lay them out under the cgroupfs driver
 * (`kubepods/besteffort/pod<uid>/<container id>`) or the systemd driver
 * (`kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope`),
 * below a cgroup of the test's own (as a kubelet `cgroupRoot`), never the root cgroup. The pods'
 * metadata is what "the API server" lists (the test hands it to a StaticPodSource).
 *
 * `remove()` takes away every cgroup made, waiting for processes that just exited to leave them.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { PodInfo } from "@ebpf-operator/core";
import { findCgroup2Mount } from "../../packages/plugin-cgroup/src/cgroup-mount.js";

export interface FakePod {
  info: PodInfo;
  /** The pod's cgroup (below the test's kubelet root) and its one container's. */
  podDir: string;
  containerDir: string;
}

const hex = () => randomUUID().replaceAll("-", "");

export class KubeletCgroups {
  readonly #made: string[] = [];

  private constructor(
    /** The cgroup v2 mount. */
    readonly mount: string,
    /** The test's kubelet cgroupRoot (a cgroup of its own below the mount). */
    readonly top: string,
  ) {}

  /** Makes the root `<mount>/<name>`; `name` should carry process.pid (tests run side by side). */
  static async create(name: string): Promise<KubeletCgroups> {
    const mount = await findCgroup2Mount();
    if (!mount) throw new Error("kernel tests need a cgroup v2 hierarchy");
    const top = join(mount, name);
    mkdirSync(top);
    return new KubeletCgroups(mount, top);
  }

  /** Makes the cgroups of a path below the root that are missing; returns its directory. */
  mkcgroup(relative: string): string {
    let dir = this.top;
    for (const part of relative.split("/")) {
      dir = join(dir, part);
      if (!existsSync(dir)) {
        mkdirSync(dir);
        this.#made.push(dir);
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
    return { info: { uid, namespace, name, labels, deleting: false }, podDir, containerDir };
  }

  /** Removes every cgroup made (deepest first) and the root. */
  async remove(): Promise<void> {
    for (const dir of [...this.#made].reverse()) {
      for (let i = 0; i < 50 && existsSync(dir); i++) {
        try {
          rmdirSync(dir);
        } catch {
          await sleep(20); // a finished process leaves its cgroup a moment later
        }
      }
    }
    if (existsSync(this.top)) rmdirSync(this.top);
  }
}

/** Polls `probe` until `ok`, failing with the last value after `ms`. */
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
