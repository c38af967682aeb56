import { describe, expect, it } from "vitest";
import { containerIdOf, isPodParentSegment, parsePodCgroupPath } from "./cgroup-layout.js";

const UID = "0f2d6c3a-5b1e-4c8d-9a7f-3e2b1c0d9e8f";
const UID_ = UID.replaceAll("-", "_");
const ID = "4a1b".repeat(16);

describe("parsePodCgroupPath: the four runtime x driver layouts", () => {
  it.each([
    ["containerd, cgroupfs", `/kubepods/burstable/pod${UID}/${ID}`, "cgroupfs", "burstable", "unknown", `/kubepods/burstable/pod${UID}`],
    [
      "containerd, systemd",
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      "systemd",
      "besteffort",
      "containerd",
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice`,
    ],
    ["CRI-O, cgroupfs", `/kubepods/pod${UID}/crio-${ID}`, "cgroupfs", "guaranteed", "cri-o", `/kubepods/pod${UID}`],
    [
      "CRI-O, systemd (crun's nested container cgroup)",
      `/kubepods.slice/kubepods-pod${UID_}.slice/crio-${ID}.scope/container`,
      "systemd",
      "guaranteed",
      "cri-o",
      `/kubepods.slice/kubepods-pod${UID_}.slice`,
    ],
  ])("%s", (_, path, driver, qos, runtime, podPath) => {
    const parsed = parsePodCgroupPath(path);
    expect(parsed).toMatchObject({ podUid: UID, podPath, driver, qos, container: { id: ID, runtime, conmon: false } });
  });

  it("finds pods below a kubelet cgroupRoot, and static pods' 32-digit UIDs", () => {
    expect(parsePodCgroupPath(`/nodes/n1/kubepods/besteffort/pod${UID}`)).toMatchObject({ podUid: UID, podPath: `/nodes/n1/kubepods/besteffort/pod${UID}` });
    const staticUid = "6d3f0c0f4b0a5e9d2c1b3a4f5e6d7c8b";
    expect(parsePodCgroupPath(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${staticUid}.slice`)?.podUid).toBe(staticUid);
  });

  it("marks CRI-O's conmon cgroup, which is beside the container, not in it", () => {
    expect(parsePodCgroupPath(`/kubepods/pod${UID}/crio-conmon-${ID}`)?.container).toMatchObject({ conmon: true, runtime: "cri-o" });
  });

  it("takes the outermost pod segment: a cgroup a container makes below itself does not make it another pod", () => {
    const other = "11111111-2222-3333-4444-555555555555";
    expect(parsePodCgroupPath(`/kubepods/besteffort/pod${UID}/${ID}/kubepods/pod${other}`)?.podUid).toBe(UID);
  });

  it.each([
    "/system.slice/containerd.service",
    "/kubepods/burstable",
    "/kubepods.slice/kubepods-burstable.slice",
    `/kubepods/burstable/pod${UID.toUpperCase()}`,
    `/kubepods/burstable/pod${UID}x`,
    "/user.slice/pod-not-a-uid",
  ])("finds no pod in %s", (path) => {
    expect(parsePodCgroupPath(path)).toBeUndefined();
  });
});

describe("containerIdOf", () => {
  it.each([
    [`containerd://${ID}`, ID],
    [`cri-o://${ID}`, ID],
    [ID, ID],
    ["containerd://abc", undefined],
    ["containerd://../../etc", undefined],
    [undefined, undefined],
  ])("%s -> %s", (status, id) => {
    expect(containerIdOf(status)).toBe(id);
  });
});

describe("isPodParentSegment", () => {
  it.each(["kubepods", "burstable", "besteffort", "kubepods.slice", "kubepods-burstable.slice", "kubepods-besteffort.slice"])("%s holds pods", (s) => {
    expect(isPodParentSegment(s)).toBe(true);
  });
  it.each(["system.slice", "user.slice", "kubepods-burstable-podx.slice", "pods"])("%s does not", (s) => {
    expect(isPodParentSegment(s)).toBe(false);
  });
});
