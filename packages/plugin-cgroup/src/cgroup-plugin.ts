/**
 * cgroup programs: `cgroup_skb` (packets a cgroup's sockets send or receive), `cgroup_sock`
 * (socket creation, release, bind), `cgroup_sock_addr` (connect, bind, sendmsg, recvmsg) and
 * `sock_ops` (TCP events), attached with a BPF link to a directory of the cgroup v2 hierarchy.
 * A program attached to a cgroup also runs for every cgroup below it. The host pins the link,
 * so the program stays attached across an agent restart.
 *
 * The root cgroup (`/`) is a valid target: it covers the whole machine.
 *
 * Pod scope (`spec.selector`): the cgroup path is relative to each selected pod, and only `/`
 * (the pod's own cgroup) is accepted; the host attaches the program to every selected pod's
 * cgroup with the pod's directory as the target, never to the path as written (so `/` is never
 * the root cgroup there).
 */
import { readdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { PluginTargetError, closestNames, definePlugin } from "@ebpf-operator/core/sdk";
import { probeProgramType } from "@ebpf-operator/libbpf";
import { cgroupDirectory, cgroupPathOf, findCgroup2Mount } from "./cgroup-mount.js";
import { cgroupTargetSchema, parseCgroupTarget, type CgroupTarget } from "./cgroup-target.js";

export const cgroupPlugin = definePlugin<CgroupTarget>({
  meta: {
    name: "@ebpf-operator/plugin-cgroup",
    version: "0.1.0",
    apiVersion: 1,
    programTypes: ["cgroup"],
    description: "Attach cgroup_skb, cgroup_sock, cgroup_sock_addr and sock_ops programs to cgroup v2 directories.",
  },
  targetSchema: cgroupTargetSchema,

  parseTarget: (_type, target) => parseCgroupTarget(target),

  async detectSupport(_type, _host, target) {
    const programTypes = target ? [target.programType] : ["cgroup_skb"];
    for (const programType of programTypes) {
      if (!probeProgramType(programType)) {
        return { supported: false, reason: `the kernel cannot load ${programType} programs (CONFIG_CGROUP_BPF is off?)` };
      }
    }
    if ((await findCgroup2Mount()) === undefined) {
      return {
        supported: false,
        reason: "no cgroup v2 hierarchy is mounted (BPF cgroup programs attach to cgroup v2 only)",
        hint: "mount one: mount -t cgroup2 none /sys/fs/cgroup/unified",
      };
    }
    return { supported: true };
  },

  async resolveTarget(_type, target) {
    return { ...target, directory: await resolveDirectory(target) };
  },

  prepare({ object, programName, target }) {
    object.setProgramType(programName, target.programType);
    object.setExpectedAttachType(programName, target.attachType);
  },

  async attach({ program, target }) {
    const directory = target.directory ?? (await resolveDirectory(target));
    const link = program.attachCgroup(directory, target.attachType);
    return [{ kind: "link", link, description: `${target.hook} on cgroup ${directory}` }];
  },

  podScope: {
    check(_type, target) {
      const segments = target.cgroup.split("/").filter((s) => s !== "");
      if (segments.length > 0) {
        throw new PluginTargetError(
          "EOP_ERR_TARGET_INVALID",
          `cgroup target "${target.hook}:${target.cgroup}": with spec.selector the program attaches to each selected pod's own cgroup, so the path must be "/" (the pod's cgroup), e.g. ${target.hook}:/`,
        );
      }
    },
    target: (_type, target, pod) => ({ ...target, cgroup: pod.path, directory: pod.directory }),
  },

  // The `cgroup` decoder (id → path) is core's.
});

async function resolveDirectory(target: CgroupTarget): Promise<string> {
  const mount = await findCgroup2Mount();
  if (mount === undefined) throw new PluginTargetError("EOP_ERR_TARGET_NOT_FOUND", "cgroup target: no cgroup v2 hierarchy is mounted");
  const directory = cgroupDirectory(mount, target.cgroup);
  await checkCgroupExists(mount, directory, target);
  return directory;
}

async function isCgroup(directory: string): Promise<boolean> {
  return stat(join(directory, "cgroup.procs")).then(
    () => true,
    () => false,
  );
}

/** Fails with the closest sibling names below the deepest part of the path that exists. */
async function checkCgroupExists(mount: string, directory: string, target: CgroupTarget): Promise<void> {
  if (await isCgroup(directory)) return;
  let missing = directory;
  let parent = dirname(directory);
  while (parent.length >= mount.length && !(await isCgroup(parent))) {
    missing = parent;
    parent = dirname(parent);
  }
  const siblings = await readdir(parent, { withFileTypes: true }).then(
    (entries) => entries.filter((e) => e.isDirectory()).map((e) => join(cgroupPathOf(mount, parent), e.name)),
    () => [] as string[],
  );
  const near = closestNames(cgroupPathOf(mount, missing), siblings);
  throw new PluginTargetError(
    "EOP_ERR_TARGET_NOT_FOUND",
    `cgroup target "${target.hook}:${target.cgroup}": cgroup ${cgroupPathOf(mount, directory)} does not exist in the cgroup v2 hierarchy at ${mount}${near.length ? ` (did you mean ${near.join(", ")}?)` : ""}`,
  );
}
