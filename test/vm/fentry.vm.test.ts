/**
 * fentry and fexit END TO END on a kernel that has BPF trampolines: the agent runs inside a qemu
 * guest booted from Debian's stock 6.1 kernel (this machine's kernel refuses fentry programs).
 * examples/fentry-unlink.yaml — an fentry/fexit pair on do_unlinkat, two programs of one
 * resource — must count a static workload's failing unlinks exactly, by command and by errno.
 * See docs/vm-tests.md.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { promtoolCheck, sampleValue, type StatusDocument } from "../helpers/metrics.js";
import { buildGuest, repoRoot, runGuestScenario, type GuestRun, type MetricsResult } from "../helpers/vm/guest.js";
import { buildWorkload, type Workload } from "../helpers/workload/workload.js";

const EXAMPLE = join(repoRoot, "examples/fentry-unlink.yaml");
const UNLINKS = 25;

describe.skipIf(process.arch !== "x64")("fentry and fexit in a 6.1 guest (agent inside qemu)", () => {
  let run: GuestRun;
  let workload: Workload;

  beforeAll(async () => {
    if (!existsSync(join(repoRoot, "packages/core/dist/cli.js"))) {
      throw new Error("packages/core/dist/cli.js is missing: run `bash scripts/setup.sh` first");
    }
    // A static binary under the host's /tmp, which the guest sees through its 9p root.
    workload = buildWorkload("eopvm");
    const image = buildGuest();
    run = await runGuestScenario(image, {
      name: "fentry",
      manifests: [EXAMPLE],
      waitRunning: ["fentry-unlink"],
      // Probing trampolines and reading the guest kernel's BTF under TCG take a while.
      readyTimeoutMs: 240_000,
      timeoutMs: 360_000,
      steps: [
        { kind: "metrics", label: "before" },
        { kind: "exec", label: "unlink", command: workload.path, args: ["unlink-missing", String(UNLINKS), "/run/eop/nonexistent-eop-workload"], times: 1 },
        { kind: "metrics", label: "after" },
        { kind: "status", label: "status" },
      ],
    });
    process.stderr.write(`vm: guest ${image.kernelVersion}, qemu ${run.durationMs} ms; console: ${run.consoleLogPath}\n`);
  });

  afterAll(() => workload?.remove());

  it("boots the guest and runs the scenario to the end", () => {
    expect(run.failure).toBeUndefined();
    expect(run.exitStatus).toBe(0);
    expect(run.result<{ kernel: string }>("guest").kernel).toMatch(/^6\.1\./);
  });

  it("attaches both programs of the resource through trampolines on do_unlinkat", () => {
    const status = run.result<{ status: number; document: StatusDocument }>("status");
    const resource = status.document.resources.find((r) => r.name === "fentry-unlink");
    expect(resource?.phase).toBe("Running");
    expect(resource?.programs?.map((p) => [p.name, p.type, p.attachments])).toEqual([
      ["unlink_entry", "fentry", ["fentry do_unlinkat"]],
      ["unlink_exit", "fexit", ["fexit do_unlinkat"]],
    ]);
  });

  it(`counts the workload's ${UNLINKS} unlinks exactly at entry, and their ENOENT at return`, () => {
    expect(run.result<{ failures: string[] }>("unlink").failures).toEqual([]);
    const value = (label: string, name: string, labels: Record<string, string>) =>
      sampleValue(run.result<MetricsResult>(label).body, name, { namespace: "default", ebpfmap: "fentry-unlink", ...labels }) ?? 0;
    expect(value("after", "unlink_calls_total", { comm: workload.comm }) - value("before", "unlink_calls_total", { comm: workload.comm })).toBe(UNLINKS);
    // Errors are by errno only: other unlinks of the guest may fail too, never fewer. (The path is
    // on the guest's /run tmpfs: on its read-only root the same unlink fails with EROFS.)
    expect(value("after", "unlink_errors_total", { errno: "ENOENT" }) - value("before", "unlink_errors_total", { errno: "ENOENT" })).toBeGreaterThanOrEqual(
      UNLINKS,
    );
  });

  it("serves /metrics that promtool accepts", () => {
    expect(promtoolCheck(run.result<MetricsResult>("after").body).problems).toEqual([]);
  });
});
