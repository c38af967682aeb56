import type { ProgramInfo } from "@ebpf-operator/libbpf";
import { describe, expect, it } from "vitest";
import { newStatus, type ResourceStatus } from "../api/resource-status.js";
import { MetricRegistry } from "../scrape/registry.js";
import { registryText } from "../scrape/registry-text.js";
import { ProgramStats } from "./program-stats.js";

function status(name: string, phase: ResourceStatus["phase"], extra: Partial<ResourceStatus> = {}): ResourceStatus {
  return { ...newStatus({ namespace: "team-a", name }), phase, ...extra };
}

const program = (id: number) => ({ id, loadKey: "k", pinDir: `/sys/fs/bpf/x/${id}`, adopted: false, attachments: [] });
const info = (id: number, runCount: bigint, runTimeNs: bigint): ProgramInfo => ({
  id,
  name: "count_execve",
  type: "tracepoint",
  tag: "",
  runCount,
  runTimeNs,
  mapIds: [],
  btfId: 0,
});

describe("program and resource self-metrics", () => {
  it("serve each loaded program's kernel run count and run time, the phases, and the last error codes", async () => {
    const registry = new MetricRegistry();
    const statuses = [
      status("running", "Running", { program: program(7) }),
      status("degraded", "Degraded", { program: program(8), lastError: { code: "EOP_ERR_COMPILE_FAILED", message: "x", time: "" } }),
      status("failed", "Failed", { lastError: { code: "EOP_ERR_LOAD_VERIFIER", message: "x", time: "" } }),
    ];
    new ProgramStats(registry, { statuses: () => statuses, statsEnabled: () => true, readInfo: (p) => info(p.id, 1000n, 2_500_000_000n) });
    const text = await registryText(registry);
    expect(text).toContain('ebpf_operator_program_run_count_total{namespace="team-a",ebpfmap="running",program="count_execve"} 1000');
    expect(text).toContain('ebpf_operator_program_run_time_seconds_total{namespace="team-a",ebpfmap="degraded",program="count_execve"} 2.5');
    expect(text).not.toContain('ebpf_operator_program_run_count_total{namespace="team-a",ebpfmap="failed"');
    expect(text).toContain('ebpf_operator_agent_resource_phase{namespace="team-a",ebpfmap="failed",phase="Failed"} 1');
    expect(text).toContain('ebpf_operator_agent_last_error_info{namespace="team-a",ebpfmap="degraded",code="EOP_ERR_COMPILE_FAILED"} 1');
    expect(text).toContain('ebpf_operator_agent_last_error_info{namespace="team-a",ebpfmap="failed",code="EOP_ERR_LOAD_VERIFIER"} 1');
    expect(text).not.toContain('last_error_info{namespace="team-a",ebpfmap="running"');
    expect(text).toContain("ebpf_operator_agent_bpf_stats_enabled 1");
    expect(text).toContain("# TYPE ebpf_operator_program_run_count_total counter");
  });

  it("serve one series per program of a several-program resource, read from each program's own pin", async () => {
    const registry = new MetricRegistry();
    const programs = [
      { name: "on_enter", type: "tp_btf", target: "sys_enter", id: 11, pin: "prog_on_enter", attachments: [] },
      { name: "on_exit", type: "tp_btf", target: "sys_exit", id: 12, pin: "prog_on_exit", attachments: [] },
    ];
    const read: string[] = [];
    const names: Record<number, string> = { 11: "on_enter", 12: "on_exit" };
    new ProgramStats(registry, {
      statuses: () => [status("pair", "Running", { program: program(11), programs })],
      statsEnabled: () => true,
      readInfo: (p) => (read.push(`${p.pinDir}/${p.pin}`), { ...info(p.id, BigInt(p.id), 0n), name: names[p.id]! }),
    });
    const text = await registryText(registry);
    expect(text).toContain('ebpf_operator_program_run_count_total{namespace="team-a",ebpfmap="pair",program="on_enter"} 11');
    expect(text).toContain('ebpf_operator_program_run_count_total{namespace="team-a",ebpfmap="pair",program="on_exit"} 12');
    expect(read).toContain("/sys/fs/bpf/x/11/prog_on_exit");
  });

  it("skip a program whose pin vanished between the status and the read", async () => {
    const registry = new MetricRegistry();
    new ProgramStats(registry, {
      statuses: () => [status("swapping", "Running", { program: program(9) })],
      statsEnabled: () => false,
      readInfo: () => undefined,
    });
    const text = await registryText(registry);
    expect(text).not.toMatch(/ebpf_operator_program_run_count_total\{/);
    expect(text).toContain("ebpf_operator_agent_bpf_stats_enabled 0");
  });
});
