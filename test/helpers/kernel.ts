/**
 * Kernel tests need root, bpffs and tracefs. In CI the machine has them, so a missing
 * capability fails the test file loudly rather than skipping it.
 */
import { execFileSync } from "node:child_process";
import { statfsSync } from "node:fs";

const BPF_FS_MAGIC = 0xcafe4a11;

export function requireKernelCapabilities(): void {
  if (process.getuid?.() !== 0) throw new Error("kernel tests must run as root (they load BPF programs)");
  let magic: number | undefined;
  try {
    magic = statfsSync("/sys/fs/bpf").type;
  } catch {
    magic = undefined;
  }
  if (magic !== BPF_FS_MAGIC) {
    execFileSync("mount", ["-t", "bpf", "bpf", "/sys/fs/bpf"]);
  }
}
