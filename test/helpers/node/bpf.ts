/**
 * What the node tests check in the kernel and in the node's bpffs, from the host: links and
 * programs by id (bpftool, the machine-wide view) and the agent's pins in the node's own bpffs.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { sleep } from "../kube/control-plane.js";

/** The agent's pin root in the manifests and the chart. */
export const PIN_ROOT = "/sys/fs/bpf/ebpf-operator";

export function linksOf(programId: number): number {
  const links = JSON.parse(execFileSync("bpftool", ["link", "list", "-j"], { encoding: "utf8" })) as { prog_id: number }[];
  return links.filter((l) => l.prog_id === programId).length;
}

export function programExists(id: number): boolean {
  return (JSON.parse(execFileSync("bpftool", ["prog", "list", "-j"], { encoding: "utf8" })) as { id: number }[]).some((p) => p.id === id);
}

/** Every file pinned below `root` (a host path into the node, see NodeCluster.nodePath), relative to it. */
export function pinsUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
  return walk(root).map((p) => p.slice(root.length));
}

/** Polls `fn` until it returns something other than undefined. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 180_000, everyMs = 1_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: timed out${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await sleep(everyMs);
  }
}

/** A program's name and the program ids in the program arrays it uses (what a gate tail-calls). */
export function tailCallsOf(id: number): { name: string; calls: number[] } {
  const info = JSON.parse(execFileSync("bpftool", ["-j", "prog", "show", "id", String(id)], { encoding: "utf8" })) as { name: string; map_ids?: number[] };
  const calls: number[] = [];
  for (const mapId of info.map_ids ?? []) {
    const map = JSON.parse(execFileSync("bpftool", ["-j", "map", "show", "id", String(mapId)], { encoding: "utf8" })) as { type: string };
    if (map.type !== "prog_array") continue;
    const entries = JSON.parse(execFileSync("bpftool", ["-j", "map", "dump", "id", String(mapId)], { encoding: "utf8" })) as { value: string[] | number }[];
    for (const entry of entries) calls.push(typeof entry.value === "number" ? entry.value : Buffer.from(entry.value.map((b) => Number(b))).readUInt32LE(0));
  }
  return { name: info.name, calls };
}
