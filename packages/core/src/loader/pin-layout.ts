/**
 * Where a resource's kernel objects are pinned:
 *
 *   <root>/<namespace>/<name>/<loadKey>/map_<map>    every map of the object
 *                                      /link_<n>     every link the plugin made
 *                                      /program      pinned last: marks the directory complete
 *
 * A resource with several programs (`spec.programs`) pins each as `prog_<function>` with its
 * links as `link_<function>_<n>`, and its first program as `program`, last, as above. One
 * program keeps the layout above, so generations pinned before `spec.programs` existed are
 * adopted unchanged.
 *
 * A pod-scoped resource (`spec.selector`) pins each pod's links as `pod_<pod UID>_<program
 * index>_<n>` in the same directory: added and removed as pods come and go, adopted by UID.
 * Tracing types in pod scope (gate mode, pod-gate.ts) pin the pods' filter as `gate_filter`
 * (the pods are its values), each gate's program array as `gate_calls[_<function>]` (the kernel
 * empties a program array when its last user reference goes) and the gate's link where the
 * program's own link would be. A gate attached per pod (`podScope.gateTargets`: uprobes) pins
 * the gate as `gate_prog[_<function>]` and its links as the pod's (`pod_<uid>_<program index>_<n>`,
 * `n` from the target's key, `gateLinkNumber`), under the pod holding the shared link.
 *
 * `loadKey` hashes what the kernel sees (object, type, target, program), so a restarted agent
 * adopts a directory only for the same resource *and* code, and a changed resource loads into a
 * new directory beside the old one before the old one goes (no gap in attachment).
 */
import { createHash } from "node:crypto";
import { lstat, readdir, realpath } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import type { ResourceRef } from "../api/manifest.js";
import { operatorError } from "../errors.js";

export const DEFAULT_PIN_ROOT = "/sys/fs/bpf/ebpf-operator";
export const PROGRAM_PIN = "program";
/** Pod scope, gate mode: the pods' cgroup ids the gates read (pod-gate.ts); never `map_`, so no tenant map can take its name. */
export const POD_FILTER_PIN = "gate_filter";
/** Pod scope, gate mode: a gate's one-slot program array (`gate_calls`, or `gate_calls_<function>` with several programs); its pin keeps it filled. */
export const gateCallsPinName = (program?: string): string => (program === undefined ? "gate_calls" : `gate_calls_${program}`);
/** Pod scope, gate mode with per-pod targets: the gate itself (`gate_prog[_<function>]`), attached as pods come. */
export const gateProgramPinName = (program?: string): string => (program === undefined ? "gate_prog" : `gate_prog_${program}`);
/**
 * Pod scope, gate mode with per-pod targets: the `<n>` of a gate link's pin `pod_<uid>_<program
 * index>_<n>`, from the target's key (44 bits of its SHA-256) and the link's index among the
 * target's (`n = hash * 16 + index`), so an adopting agent tells which target a pinned link is for.
 */
export function gateLinkNumber(key: string, index: number): number {
  if (index < 0 || index >= 16) throw operatorError("EOP_ERR_ATTACH_FAILED", `a pod-scope gate target made ${index + 1} links (at most 16)`);
  return Number.parseInt(createHash("sha256").update(key).digest("hex").slice(0, 11), 16) * 16 + index;
}
/** The program index and link number of a pod link pin (`pod_<uid>_<program>_<n>`). */
export function podLinkPinParts(entry: string): { uid: string; program: number; n: number } | undefined {
  const match = /^pod_([0-9A-Fa-f-]{1,64})_(\d+)_(\d+)$/.exec(entry);
  return match ? { uid: match[1]!, program: Number(match[2]), n: Number(match[3]) } : undefined;
}
export const mapPinName = (map: string): string => `map_${map}`;
export const linkPinName = (index: number): string => `link_${index}`;
/** Pins of one program of a several-program generation (a C function is never `.`-named). */
export const programPinName = (program: string): string => `prog_${program}`;
export const programLinkPinName = (program: string, index: number): string => `link_${program}_${index}`;
/** The link pins of `program` among a several-program generation's entries, in index order. */
export function programLinkPins(entries: readonly string[], program: string): string[] {
  const prefix = `link_${program}_`;
  return entries
    .filter((e) => e.startsWith(prefix) && /^\d+$/.test(e.slice(prefix.length)))
    .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)));
}

const POD_UID = /^[0-9A-Fa-f-]{1,64}$/;
const POD_LINK_PIN = /^pod_([0-9A-Fa-f-]{1,64})_\d+_\d+$/;
/** A pod's link pin; the UID is the API server's (hex digits and dashes), checked anyway. */
export function podLinkPinName(uid: string, program: number, index: number): string {
  if (!POD_UID.test(uid)) throw operatorError("EOP_ERR_PIN_FAILED", `pod UID ${JSON.stringify(uid)} cannot name a pin`);
  return `pod_${uid}_${program}_${index}`;
}
/** The pod UID of a pod link pin, or undefined for any other entry. */
export function podOfLinkPin(entry: string): string | undefined {
  return POD_LINK_PIN.exec(entry)?.[1];
}
export const isPodLinkPin = (entry: string): boolean => POD_LINK_PIN.test(entry);

/** One path component under the pin root: never empty, `.`, `..` or anything with a slash. */
function component(part: string, what: string): string {
  if (part === "" || part === "." || part === ".." || part.includes("/") || part.includes("\0")) {
    throw operatorError("EOP_ERR_PIN_FAILED", `${what} ${JSON.stringify(part)} cannot name a pin directory`);
  }
  return part;
}

export function resourcePinDir(root: string, ref: ResourceRef): string {
  return join(root, component(ref.namespace, "namespace"), component(ref.name, "name"));
}

export function generationPinDir(root: string, ref: ResourceRef, loadKey: string): string {
  return join(resourcePinDir(root, ref), component(loadKey, "load key"));
}

/**
 * Checks that `path` lies inside `root` without passing through a symbolic link: every existing
 * component below the root must be a real directory (or, for `leaf: "file"`, the last one a real
 * file). bpffs allows symlinks, and pins are opened with BPF_OBJ_GET, which follows them: a link
 * planted under the pin root must not lead the agent to another component's pins (a CNI's), to
 * open, detach or delete them. Throws EOP_ERR_PIN_FAILED naming the link.
 */
export async function assertContained(root: string, path: string, leaf: "directory" | "file" = "directory"): Promise<void> {
  const rel = relative(root, path);
  if (rel === "" || rel.startsWith("..") || rel.startsWith(sep)) throw operatorError("EOP_ERR_PIN_FAILED", `${path} is not inside the pin root ${root}`);
  const parts = rel.split(sep);
  let current = root;
  for (let i = 0; i < parts.length; i++) {
    current = join(current, parts[i]!);
    const info = await lstat(current).catch(() => undefined);
    if (info === undefined) return; // not created yet: mkdir will make a real directory
    if (info.isSymbolicLink())
      throw operatorError("EOP_ERR_PIN_FAILED", `${current} under the pin root is a symbolic link: the agent never follows pins outside ${root}`);
    const wantDirectory = i < parts.length - 1 || leaf === "directory";
    if (wantDirectory ? !info.isDirectory() : !info.isFile()) {
      throw operatorError("EOP_ERR_PIN_FAILED", `${current} under the pin root is not a ${wantDirectory ? "directory" : "pin"}`);
    }
  }
  const [realRoot, realPath] = await Promise.all([realpath(root), realpath(path)]);
  if (!`${realPath}${sep}`.startsWith(`${realRoot}${sep}`))
    throw operatorError("EOP_ERR_PIN_FAILED", `${path} resolves to ${realPath}, outside the pin root ${root}`);
}

export interface PinnedGeneration {
  ref: ResourceRef;
  loadKey: string;
  dir: string;
  /** The program pin exists: everything before it was pinned too. */
  complete: boolean;
}

/** Real subdirectories (a symbolic link is never one: readdir's types do not follow links). */
async function subdirectories(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** Every pinned generation under the root, reached through real directories only. */
export async function listPinnedGenerations(root: string): Promise<PinnedGeneration[]> {
  const found: PinnedGeneration[] = [];
  for (const namespace of await subdirectories(root)) {
    for (const name of await subdirectories(join(root, namespace))) {
      for (const loadKey of await subdirectories(join(root, namespace, name))) {
        const dir = join(root, namespace, name, loadKey);
        const complete = await lstat(join(dir, PROGRAM_PIN)).then(
          (info) => info.isFile(),
          () => false,
        );
        found.push({ ref: { namespace, name }, loadKey, dir, complete });
      }
    }
  }
  return found;
}
