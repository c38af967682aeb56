/**
 * The spec.metrics examples end to end: the built CLI loads examples/syscalls-by-name.yaml and
 * examples/read-size-histogram.yaml on the real kernel, a known workload runs, and /metrics shows
 * decoded labels, BTF labels and a well-formed histogram that promtool accepts.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { example } from "../helpers/manifests.js";
import { fetchStatus, fetchText, promtoolCheck, runTimes, sampleValue } from "../helpers/metrics.js";

requireKernelCapabilities();

async function metrics(agent: AgentProcess): Promise<string> {
  return (await fetchText(`${agent.url}/metrics`)).body;
}

async function waitRunning(agent: AgentProcess, name: string) {
  return waitFor(`${name} to be Running`, async () => {
    const status = (await fetchStatus(agent.url)).resources.find((r) => r.name === name);
    if (status?.phase === "Failed") throw new Error(`${name} failed: ${status.lastError?.message}`);
    return status?.phase === "Running" ? status : undefined;
  });
}

/** Every `<name>_bucket` sample of one label set, as [le, value] in exposition order. */
function buckets(body: string, name: string, labels: Record<string, string>): [string, number][] {
  const out: [string, number][] = [];
  for (const line of body.split("\n")) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    const le = /le="([^"]+)"/.exec(line)![1]!;
    out.push([le, Number(line.slice(line.lastIndexOf(" ") + 1))]);
  }
  return out;
}

describe("spec.metrics examples on the real kernel", () => {
  let workspace: AgentWorkspace;
  let agent: AgentProcess;
  const base = { namespace: "default" };

  beforeAll(async () => {
    workspace = createWorkspace("metrics-examples");
    mkdirSync(workspace.configDir, { recursive: true });
    for (const file of ["syscalls-by-name.yaml", "read-size-histogram.yaml"]) writeFileSync(join(workspace.configDir, file), example(file));
    agent = await startAgent(workspace);
    await waitRunning(agent, "syscalls-by-name");
    await waitRunning(agent, "read-size-histogram");
  });

  afterAll(async () => {
    await agent?.stop();
    workspace?.cleanup();
  });

  it("counts execve by name through the uint -> syscall decoder chain", async () => {
    const labels = { ...base, ebpfmap: "syscalls-by-name", syscall: "execve" };
    const before = sampleValue(await metrics(agent), "syscalls_total", labels) ?? 0;
    runTimes("/bin/true", 25);
    const body = await metrics(agent);
    expect(sampleValue(body, "syscalls_total", labels)! - before).toBeGreaterThanOrEqual(25);
    // Other well-known syscalls are named too, and no row is left as a bare number.
    expect(sampleValue(body, "syscalls_total", { ...labels, syscall: "read" })).toBeGreaterThan(0);
    expect(body).not.toMatch(/syscalls_total\{[^}]*syscall="\d+"/);
  });

  it("serves a histogram of read() sizes per command, labelled from the key's BTF", async () => {
    const result = spawnSync("dd", ["if=/dev/zero", "of=/dev/null", "bs=4096", "count=100"], { stdio: "ignore" });
    expect(result.status).toBe(0);
    const labels = { ...base, ebpfmap: "read-size-histogram", comm: "dd" };
    const body = await waitFor("dd's reads in the histogram", async () => {
      const text = await metrics(agent);
      return (sampleValue(text, "read_size_bytes_count", labels) ?? 0) >= 100 ? text : undefined;
    });
    const series = buckets(body, "read_size_bytes", labels);
    // Every bucket 2^0 .. 2^32 is present, le ascending, cumulative, ending with +Inf = _count.
    // `le` is written as Go's Prometheus clients write it: plain below 1e6, else 1.048576e+06.
    const goLe = (bound: number): string => {
      const digits = String(bound);
      if (digits.length <= 6) return digits;
      const fraction = digits.slice(1).replace(/0+$/, "");
      return `${digits[0]}${fraction ? `.${fraction}` : ""}e+${String(digits.length - 1).padStart(2, "0")}`;
    };
    expect(series.map(([le]) => le)).toEqual([...Array.from({ length: 33 }, (_, i) => goLe(2 ** i)), "+Inf"]);
    for (let i = 1; i < series.length; i++) expect(series[i]![1]).toBeGreaterThanOrEqual(series[i - 1]![1]);
    const count = sampleValue(body, "read_size_bytes_count", labels)!;
    expect(series[series.length - 1]![1]).toBe(count);
    // The 100 reads of exactly 4096 bytes land in le="4096" (rounded up to a power of two: not 2048).
    const at = (le: string) => series.find(([l]) => l === le)![1];
    expect(at("4096") - at("2048")).toBeGreaterThanOrEqual(100);
    // _sum comes from the helper's sum key: exact bytes read, at least the 409600 of the workload.
    expect(sampleValue(body, "read_size_bytes_sum", labels)).toBeGreaterThanOrEqual(409_600);
    expect(body).toContain("# TYPE read_size_bytes histogram");
  });

  it("refuses a label field the key struct lacks before attaching, naming the field and the members", async () => {
    const manifest = example("read-size-histogram.yaml")
      .replace("name: read-size-histogram", "name: bad-label-field")
      .replace("      histogram:\n", "      labels:\n        - name: command\n          field: command\n        - name: bucket\n      histogram:\n")
      .replace("name: read_size_bytes\n", "name: bad_read_size_bytes\n");
    writeFileSync(join(workspace.configDir, "bad-label-field.yaml"), manifest);
    const status = await waitFor("bad-label-field to fail", async () => {
      const s = (await fetchStatus(agent.url)).resources.find((r) => r.name === "bad-label-field");
      return s?.phase === "Failed" ? s : undefined;
    });
    expect(status.lastError?.code).toBe("EOP_ERR_METRIC_INVALID");
    expect(status.lastError?.message).toContain(
      'spec.metrics[0].labels[0].field of EbpfMap "default/bad-label-field": the key struct read_key has no member "command"',
    );
    expect(status.lastError?.message).toContain("members: comm (char[16]), bucket (unsigned int)");
    const body = await metrics(agent);
    expect(sampleValue(body, "ebpf_operator_agent_attached", { ebpfmap: "bad-label-field" })).toBe(0);
    expect(body).not.toContain("bad_read_size_bytes");
  });

  it("passes promtool's exposition check", async () => {
    const { problems } = promtoolCheck(await metrics(agent));
    expect(problems).toEqual([]);
  });
});
