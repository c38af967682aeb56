// Runs as each package's `prepack` (npm pack / npm publish, in the package's folder): copies
// the repository's LICENSE into the package, and for @ebpf-operator/core the BPF headers
// (bpf/include) that programs include, so a packed package carries what its `files` names.
// `postpack` runs it with --clean: the copies go again (in the workspace the compiler must keep
// finding bpf/include itself). The repository keeps one LICENSE and one bpf/include.
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const pkg = process.cwd();
if (process.argv.includes("--clean")) {
  rmSync(join(pkg, "LICENSE"), { force: true });
  rmSync(join(pkg, "include"), { recursive: true, force: true });
  process.exit(0);
}
cpSync(join(root, "LICENSE"), join(pkg, "LICENSE"));
if (process.argv.includes("--bpf-headers")) {
  rmSync(join(pkg, "include"), { recursive: true, force: true });
  cpSync(join(root, "bpf", "include"), join(pkg, "include"), { recursive: true });
}
