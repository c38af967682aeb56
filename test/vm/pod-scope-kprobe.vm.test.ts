/**
 * Pod-scoped kprobe and kretprobe programs behind the agent's cgroup gate, on a kernel that has
 * kprobes: Debian's stock 6.1 under qemu (this machine's kernel lacks CONFIG_KPROBES, so
 * test/kernel/pod-scope-tracing.kernel.test.ts can prove the gate only for tracepoints). The guest
 * runs test/helpers/vm/pod-scope-guest.mjs on the host's built packages: the loader with the real
 * kprobe plugin loads each object pod-scoped (the gate attached at `__x64_sys_getpid`), lets
 * alice's pod through, and alice's pod, bob's pod and the guest's root cgroup each make the same
 * number of getpid calls. The objects are compiled here, on the host (clang under TCG is slow,
 * and compiling is not what this proves). See docs/vm-tests.md.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BpfCompiler, createLogger } from "@ebpf-operator/core";
import { buildGuest, repoRoot, runGuestScenario, type GuestRun } from "../helpers/vm/guest.js";

const CALLS = 25;

const code = (section: string, program: string) => `#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <ebpf-operator/metrics.h>

struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 1024); __type(key, u64); __type(value, u64); } calls SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, u32); __type(value, u64); } seen SEC(".maps");

SEC("${section}/__x64_sys_getpid")
int ${program}(struct pt_regs *ctx) {
  u32 zero = 0;
  u64 cgroup = bpf_get_current_cgroup_id();
  u64 *runs = bpf_map_lookup_elem(&seen, &zero);
  if (runs) __sync_fetch_and_add(runs, 1);
  EOP_COUNTER_INC(calls, cgroup);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

interface ProgramResult {
  attachments: string[];
  beforePods: string;
  withAlice: string;
  afterDetach: string;
  rows: { cgroup: string; count: string }[];
  aliceContainer: string;
}

describe.skipIf(process.arch !== "x64")("pod-scoped kprobe and kretprobe behind the gate in a 6.1 guest", () => {
  let run: GuestRun;
  const cacheDir = mkdtempSync(join(tmpdir(), "eop-vm-podscope-"));

  beforeAll(async () => {
    for (const dist of ["packages/core/dist/index.js", "packages/plugin-kprobe/dist/index.js"]) {
      if (!existsSync(join(repoRoot, dist))) throw new Error(`${dist} is missing: run \`bash scripts/setup.sh\` first`);
    }
    const compiler = new BpfCompiler({ cacheDir, logger: createLogger({ level: "silent" }) });
    const objects = [];
    for (const [type, section, program] of [
      ["kprobe", "kprobe", "count_getpid"],
      ["kretprobe", "kretprobe", "count_getpid_ret"],
    ] as const) {
      const source = code(section, program);
      const compiled = await compiler.compile({ source, label: `vm/${program}` });
      objects.push({ type, program, code: source, path: compiled.objectPath, hash: compiled.hash });
    }
    const image = buildGuest();
    run = await runGuestScenario(image, {
      name: "pod-scope-kprobe",
      manifests: [],
      waitRunning: [],
      steps: [],
      timeoutMs: 300_000,
      script: { path: join(repoRoot, "test/helpers/vm/pod-scope-guest.mjs"), args: { repoRoot, objects, calls: CALLS } },
    });
    process.stderr.write(`vm: guest ${image.kernelVersion}, qemu ${run.durationMs} ms; console: ${run.consoleLogPath}\n`);
  });

  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

  it("boots the guest and runs the scenario to the end on a kernel with kprobes", () => {
    expect(run.failure).toBeUndefined();
    expect(run.exitStatus).toBe(0);
    expect(run.result<{ kernel: string; kprobePmu: boolean }>("guest")).toMatchObject({ kernel: expect.stringMatching(/^6\.1\./), kprobePmu: true });
  });

  it.each([
    ["kprobe", "count_getpid"],
    ["kretprobe", "count_getpid_ret"],
  ])("a pod-scoped %s runs exactly for alice's pod's getpid calls, only while her pod is let through", (type, program) => {
    const r = run.result<ProgramResult>(program);
    // The gate is what is attached, at the kernel's symbol for sys_getpid.
    expect(r.attachments).toEqual([`${type} __x64_sys_getpid (gate: the selected pods' tasks only)`]);
    // Loaded, no pod let through yet: alice's calls do not run it.
    expect(Number(r.beforePods)).toBe(0);
    // Alice's, bob's and the root cgroup's calls, CALLS each: it ran for alice's only.
    expect(Number(r.withAlice)).toBe(CALLS);
    expect(r.rows).toEqual([{ cgroup: r.aliceContainer, count: String(CALLS) }]);
    // Alice's pod taken out of the filter: her calls no longer run it.
    expect(Number(r.afterDetach)).toBe(CALLS);
  });
});
