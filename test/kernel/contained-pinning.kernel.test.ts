/**
 * Contained pinning, with the built agent on the real kernel. A map declared with
 * `__uint(pinning, LIBBPF_PIN_BY_NAME)` would be pinned by libbpf at `/sys/fs/bpf/<name>` and
 * shared with whatever map is pinned there: two resources (two tenants) declaring the same name
 * would share one map, a map pinned there beforehand would be adopted, and the pin would outlive
 * every resource. The agent pins such maps in the resource's own generation directory instead.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { fetchStatus, fetchText, sampleValue } from "../helpers/metrics.js";
import { buildWorkload, type Workload } from "../helpers/workload/workload.js";

requireKernelCapabilities();

/** Unique per run: other test runs on this machine may declare the same kind of map. */
const MAP = `eop_pin_${process.pid}`;
const ROOT_PIN = join("/sys/fs/bpf", MAP);

function code(key: number): string {
  return `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <ebpf-operator/metrics.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8);
  __type(key, u32);
  __type(value, u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} ${MAP} SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int count(void *ctx) {
  u32 key = ${key};
  EOP_COUNTER_INC(${MAP}, key);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";`;
}

function manifest(namespace: string, key: number): string {
  return `apiVersion: observability.cloud/v1
kind: EbpfMap
metadata:
  name: pinned
  namespace: ${namespace}
spec:
  name: pinned-calls
  type: tracepoint
  target: syscalls/sys_enter_getppid
  program: count
  map: ${MAP}
  code: |
${code(key)
  .split("\n")
  .map((l) => `    ${l}`)
  .join("\n")}
`;
}

const mapId = (pin: string) => (JSON.parse(execFileSync("bpftool", ["map", "show", "pinned", pin, "-j"], { encoding: "utf8" })) as { id: number }).id;
const mapEntries = (pin: string) => JSON.parse(execFileSync("bpftool", ["map", "dump", "pinned", pin, "-j"], { encoding: "utf8" })) as unknown[];

describe("maps declared with LIBBPF_PIN_BY_NAME", () => {
  let workspace: AgentWorkspace;
  let agent: AgentProcess;
  let workload: Workload;
  const file = (ns: string) => join(workspace.configDir, `${ns}.yaml`);
  const status = async (ns: string) => (await fetchStatus(agent.url)).resources.find((r) => r.namespace === ns && r.name === "pinned");
  const running = (ns: string) => waitFor(`${ns}/pinned to run`, async () => ((await status(ns))?.phase === "Running" ? await status(ns) : undefined), 60_000);
  const value = async (ns: string, key: string) =>
    sampleValue((await fetchText(`${agent.url}/metrics`)).body, "pinned_calls_total", { namespace: ns, ebpfmap: "pinned", key });

  beforeAll(async () => {
    rmSync(ROOT_PIN, { force: true });
    workload = buildWorkload("eoppn");
    workspace = createWorkspace("pinning");
    mkdirSync(workspace.configDir, { recursive: true });
    writeFileSync(file("tenant-a"), manifest("tenant-a", 1));
    writeFileSync(file("tenant-b"), manifest("tenant-b", 2));
    agent = await startAgent(workspace);
  });

  afterAll(async () => {
    await agent?.stop("SIGKILL");
    workspace?.cleanup();
    workload?.remove();
    rmSync(ROOT_PIN, { force: true });
  });

  it("gives two resources declaring the same pinned name two maps, each in its own directory", async () => {
    const a = (await running("tenant-a"))!;
    const b = (await running("tenant-b"))!;
    expect(existsSync(ROOT_PIN)).toBe(false);
    const pinA = join(a.program!.pinDir, `map_${MAP}`);
    const pinB = join(b.program!.pinDir, `map_${MAP}`);
    expect(a.program!.pinDir.startsWith(join(workspace.pinRoot, "tenant-a", "pinned"))).toBe(true);
    expect(mapId(pinA)).not.toBe(mapId(pinB));

    workload.run("getppid", 25);
    expect(await value("tenant-a", "1")).toBeGreaterThanOrEqual(25);
    expect(await value("tenant-b", "2")).toBeGreaterThanOrEqual(25);
    // Shared, each would see the other's key too.
    expect(await value("tenant-a", "2")).toBeUndefined();
    expect(await value("tenant-b", "1")).toBeUndefined();
  });

  it("leaves nothing behind when the resources are deleted", async () => {
    const ids = [await status("tenant-a"), await status("tenant-b")].map((s) => s!.program!.id);
    rmSync(file("tenant-a"));
    rmSync(file("tenant-b"));
    await waitFor("both resources to go", async () => ((await status("tenant-a")) || (await status("tenant-b")) ? undefined : true));
    expect(existsSync(ROOT_PIN)).toBe(false);
    expect(existsSync(workspace.pinRoot) ? readdirSync(workspace.pinRoot) : []).toEqual([]);
    const programs = () => (JSON.parse(execFileSync("bpftool", ["prog", "list", "-j"], { encoding: "utf8" })) as { id: number }[]).map((p) => p.id);
    await waitFor("the programs to be freed", async () => (ids.some((id) => programs().includes(id)) ? undefined : true), 10_000);
  });

  it("does not adopt a map already pinned at /sys/fs/bpf/<name>", async () => {
    // A compatible map pinned where libbpf would look: libbpf itself would reuse it.
    execFileSync("bpftool", ["map", "create", ROOT_PIN, "type", "hash", "key", "4", "value", "8", "entries", "8", "name", MAP.slice(0, 15)]);
    const planted = mapId(ROOT_PIN);
    writeFileSync(file("tenant-a"), manifest("tenant-a", 1));
    const a = (await running("tenant-a"))!;
    expect(mapId(join(a.program!.pinDir, `map_${MAP}`))).not.toBe(planted);
    workload.run("getppid", 5);
    expect(await value("tenant-a", "1")).toBeGreaterThanOrEqual(5);
    expect(mapEntries(ROOT_PIN)).toEqual([]);
    const logs = agent.logs.filter((l) => l.msg === "map declared with LIBBPF_PIN_BY_NAME is pinned in the resource's own directory, not shared");
    expect(logs).toContainEqual(expect.objectContaining({ namespace: "tenant-a", map: MAP, declared: ROOT_PIN }));
  });
});
