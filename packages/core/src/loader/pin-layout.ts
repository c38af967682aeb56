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
 * `loadKey` hashes what the kernel sees (object, type, target, program), so a restarted agent
 * adopts a directory only for the same resource *and* code, and a changed resource loads into a
 * new directory beside the old one before the old one goes (no gap in attachment).
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { ResourceRef } from "../api/manifest.js";

export const DEFAULT_PIN_ROOT = "/sys/fs/bpf/ebpf-operator";
export const PROGRAM_PIN = "program";
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

export function resourcePinDir(root: string, ref: ResourceRef): string {
  return join(root, ref.namespace, ref.name);
}

export function generationPinDir(root: string, ref: ResourceRef, loadKey: string): string {
  return join(resourcePinDir(root, ref), loadKey);
}

export interface PinnedGeneration {
  ref: ResourceRef;
  loadKey: string;
  dir: string;
  /** The program pin exists: everything before it was pinned too. */
  complete: boolean;
}

async function subdirectories(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** Every pinned generation under the root. */
export async function listPinnedGenerations(root: string): Promise<PinnedGeneration[]> {
  const found: PinnedGeneration[] = [];
  for (const namespace of await subdirectories(root)) {
    for (const name of await subdirectories(join(root, namespace))) {
      for (const loadKey of await subdirectories(join(root, namespace, name))) {
        const dir = join(root, namespace, name, loadKey);
        const complete = await stat(join(dir, PROGRAM_PIN)).then(
          () => true,
          () => false,
        );
        found.push({ ref: { namespace, name }, loadKey, dir, complete });
      }
    }
  }
  return found;
}
