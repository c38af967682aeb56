/**
 * Which pod and container a cgroup path belongs to, from the path alone. The kubelet names a
 * pod's cgroup after the pod's UID, and the runtime names each container's cgroup after the
 * container's id, in one of four layouts (runtime x cgroup driver), below an optional prefix (the
 * kubelet's `cgroupRoot`):
 *
 *   containerd, cgroupfs  /kubepods/burstable/pod<uid>/<id>
 *   containerd, systemd   /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope
 *   CRI-O, cgroupfs       /kubepods/burstable/pod<uid>/crio-<id>              (+ crio-conmon-<id>)
 *   CRI-O, systemd        /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/crio-<id>.scope
 *                                                                              (+ crio-conmon-<id>.scope; crun
 *                                                                              may nest a `container` cgroup)
 *
 * Guaranteed pods have no QoS level (`/kubepods/pod<uid>`, `kubepods-pod<uid_>.slice`); with
 * the systemd driver a UID's dashes become underscores; a static pod's UID is 32 hex digits.
 * Docker through cri-dockerd uses `docker-<id>.scope` (systemd) or the bare id (cgroupfs).
 * Nothing here depends on which runtime runs the node: the UID comes from the API server, the
 * id from the pod's status, and the path from the kernel.
 */

export type CgroupDriver = "cgroupfs" | "systemd";
export type QosClass = "guaranteed" | "burstable" | "besteffort";
export type ContainerRuntime = "containerd" | "cri-o" | "docker" | "unknown";

export interface ContainerCgroupPath {
  /** The container id (64 hex digits), as `status.containerStatuses[].containerID` has it after `<runtime>://`. */
  id: string;
  runtime: ContainerRuntime;
  /** The container's cgroup (the `.scope` or the id directory), even when the path goes deeper. */
  path: string;
  /** CRI-O's monitor (`crio-conmon-<id>`): beside the container, not in it. */
  conmon: boolean;
}

export interface PodCgroupPath {
  /** The pod's UID as the API server writes it (dashes, lower case). */
  podUid: string;
  /** The pod's cgroup: the path up to and including the pod's directory. */
  podPath: string;
  driver: CgroupDriver;
  qos: QosClass;
  container?: ContainerCgroupPath;
}

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const UUID_SYSTEMD = "[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12}";
const STATIC_UID = "[0-9a-f]{32}";
const CGROUPFS_POD = new RegExp(`^pod(${UUID}|${STATIC_UID})$`);
// `<prefix>-kubepods[-<qos>]-pod<uid>.slice`: the prefix is there when cgroupRoot is set.
const SYSTEMD_POD = new RegExp(`^(?:[a-z0-9_.]+-)?kubepods(?:-(burstable|besteffort))?-pod(${UUID_SYSTEMD}|${STATIC_UID})\\.slice$`);
const CONTAINER_ID = "[0-9a-f]{64}";
const CONTAINER_SEGMENTS: readonly { pattern: RegExp; runtime: ContainerRuntime; conmon?: boolean }[] = [
  { pattern: new RegExp(`^cri-containerd-(${CONTAINER_ID})\\.scope$`), runtime: "containerd" },
  { pattern: new RegExp(`^crio-conmon-(${CONTAINER_ID})(?:\\.scope)?$`), runtime: "cri-o", conmon: true },
  { pattern: new RegExp(`^crio-(${CONTAINER_ID})(?:\\.scope)?$`), runtime: "cri-o" },
  { pattern: new RegExp(`^docker-(${CONTAINER_ID})\\.scope$`), runtime: "docker" },
  // cgroupfs driver, containerd or docker: the bare id.
  { pattern: new RegExp(`^(${CONTAINER_ID})$`), runtime: "unknown" },
];

/** The pod segment of one path component, or undefined. */
export function parsePodSegment(segment: string): { podUid: string; driver: CgroupDriver; qosInName?: QosClass } | undefined {
  const cgroupfs = CGROUPFS_POD.exec(segment);
  if (cgroupfs) return { podUid: cgroupfs[1]!, driver: "cgroupfs" };
  const systemd = SYSTEMD_POD.exec(segment);
  if (systemd) return { podUid: systemd[2]!.replaceAll("_", "-"), driver: "systemd", qosInName: (systemd[1] as QosClass | undefined) ?? "guaranteed" };
  return undefined;
}

/** The container segment of one path component (a child of a pod's cgroup), or undefined. */
export function parseContainerSegment(segment: string): Omit<ContainerCgroupPath, "path"> | undefined {
  for (const { pattern, runtime, conmon } of CONTAINER_SEGMENTS) {
    const match = pattern.exec(segment);
    if (match) return { id: match[1]!, runtime, conmon: conmon === true };
  }
  return undefined;
}

/**
 * The pod (and container) a cgroup path is in, or undefined for a path outside every pod (the
 * host's services, the kubepods and QoS levels themselves). Paths are cgroup v2 hierarchy paths
 * (`/proc/<pid>/cgroup`'s `0::` line, or a directory below the mount).
 */
export function parsePodCgroupPath(path: string): PodCgroupPath | undefined {
  const segments = path.split("/").filter((s) => s !== "");
  for (let i = 0; i < segments.length; i++) {
    const pod = parsePodSegment(segments[i]!);
    if (!pod) continue;
    const parent = segments[i - 1];
    const qos: QosClass =
      pod.driver === "systemd" ? pod.qosInName! : parent === "burstable" ? "burstable" : parent === "besteffort" ? "besteffort" : "guaranteed";
    const podPath = `/${segments.slice(0, i + 1).join("/")}`;
    const result: PodCgroupPath = { podUid: pod.podUid, podPath, driver: pod.driver, qos };
    const child = segments[i + 1];
    const container = child === undefined ? undefined : parseContainerSegment(child);
    if (container) result.container = { ...container, path: `${podPath}/${child}` };
    return result;
  }
  return undefined;
}

/** A container id from `status.containerStatuses[].containerID` (`containerd://<id>`, `cri-o://<id>`), or undefined. */
export function containerIdOf(statusId: string | undefined): string | undefined {
  if (!statusId) return undefined;
  const id = statusId.includes("://") ? statusId.slice(statusId.indexOf("://") + 3) : statusId;
  return new RegExp(`^${CONTAINER_ID}$`).test(id) ? id : undefined;
}

/** Whether a directory name may hold pods (a kubepods root or a QoS level), so a scan descends into it. */
export function isPodParentSegment(segment: string): boolean {
  return /^(?:[a-z0-9_.]+-)?kubepods(?:-(?:burstable|besteffort))?\.slice$/.test(segment) || ["kubepods", "burstable", "besteffort"].includes(segment);
}
