/**
 * Finds the file a target's binary names: an absolute path as it is; a bare name in PATH and
 * then the usual library directories, as the agent sees them (its mount namespace: a container's
 * files are under /proc/<pid>/root/...).
 */
import { readdir, stat } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { PluginTargetError, closestNames } from "@ebpf-operator/core/sdk";

const LIBRARY_DIRS = ["/lib", "/usr/lib", "/usr/local/lib", "/lib64", "/usr/lib64"];

/** The directories a bare name is looked up in, in order. */
export function searchDirectories(env: NodeJS.ProcessEnv = process.env, arch: string = process.arch): string[] {
  const triple = arch === "arm64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  const path = (env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(delimiter).filter((d) => d.startsWith("/"));
  const libs = LIBRARY_DIRS.flatMap((d) => (d.endsWith("64") ? [d] : [join(d, triple), d]));
  return [...new Set([...path, ...libs])];
}

/** The regular file `binary` names; throws EOP_ERR_TARGET_NOT_FOUND with the closest names. */
export async function resolveBinary(binary: string, programType: string, dirs: readonly string[] = searchDirectories()): Promise<string> {
  if (binary.startsWith("/")) {
    const info = await stat(binary).catch(() => undefined);
    if (info?.isFile()) return binary;
    const near = await nearNames(binary.slice(binary.lastIndexOf("/") + 1), [binary.slice(0, binary.lastIndexOf("/")) || "/"]);
    throw notFound(
      programType,
      info ? `${binary} is not a regular file` : `${binary} does not exist`,
      near.map((n) => join(binary.slice(0, binary.lastIndexOf("/")) || "/", n)),
    );
  }
  for (const dir of dirs) {
    const candidate = join(dir, binary);
    if ((await stat(candidate).catch(() => undefined))?.isFile()) return candidate;
  }
  throw notFound(programType, `no file "${binary}" in PATH or the library directories (${dirs.join(", ")})`, await nearNames(binary, dirs));
}

async function nearNames(name: string, dirs: readonly string[]): Promise<string[]> {
  const names = new Set<string>();
  for (const dir of dirs) for (const entry of await readdir(dir).catch(() => [] as string[])) names.add(entry);
  return closestNames(name, [...names]);
}

function notFound(programType: string, what: string, near: readonly string[]): PluginTargetError {
  return new PluginTargetError("EOP_ERR_TARGET_NOT_FOUND", `${programType} target: ${what}${near.length ? ` (did you mean ${near.join(", ")}?)` : ""}`);
}
