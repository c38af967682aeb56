/**
 * Builds and runs test/helpers/workload/workload.c: a static binary with a per-run unique name
 * (so its `comm` tells its events apart from everything else on the machine) that makes exactly
 * the system calls asked for.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SOURCE = fileURLToPath(new URL("./workload.c", import.meta.url));

export interface Workload {
  /** The binary's file name, which is also its `comm` (at most 15 characters). */
  comm: string;
  path: string;
  run(...args: (string | number)[]): void;
  /** Runs it and returns what it printed (trimmed). */
  output(...args: (string | number)[]): string;
  remove(): void;
}

/** Compiles the workload as `<prefix><pid>` (prefix at most 5 characters) in a temporary directory. */
export function buildWorkload(prefix = "eopw"): Workload {
  const comm = `${prefix.slice(0, 5)}${process.pid}`.slice(0, 15);
  const dir = mkdtempSync(join(tmpdir(), "eop-workload-"));
  const path = join(dir, comm);
  execFileSync("gcc", ["-O1", "-static", "-o", path, SOURCE], { stdio: "pipe" });
  return {
    comm,
    path,
    run: (...args) => void execFileSync(path, args.map(String), { stdio: "pipe" }),
    output: (...args) => execFileSync(path, args.map(String), { encoding: "utf8" }).trim(),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
