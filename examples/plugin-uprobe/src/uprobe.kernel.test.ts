/**
 * The uprobe plugin end to end on the real kernel, loaded purely by configuration: the built
 * agent runs with `--plugin ./examples/plugin-uprobe` beside the built-in plugins, on a tiny C
 * program compiled here whose eop_probe_target(i) is called for i = 1..N. The counts and the
 * return-value histogram on /metrics must be exact. Also runs the conformance suite's kernel
 * cycle (load, attach, adopt, detach through the agent's loader).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_PLUGINS } from "@ebpf-operator/core";
import { describePluginConformance } from "@ebpf-operator/core/testing";
import { createWorkspace, repoRoot, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../../../test/helpers/agent-process.js";
import { requireKernelCapabilities } from "../../../test/helpers/kernel.js";
import { example } from "../../../test/helpers/manifests.js";
import { fetchStatus, fetchText, sampleValue } from "../../../test/helpers/metrics.js";
import { compileProbeTarget } from "./fixtures/compile.js";
import { uprobePlugin } from "./uprobe-plugin.js";

requireKernelCapabilities();

const pluginDir = fileURLToPath(new URL("..", import.meta.url));

// The agent imports the built package (dist/): build it when missing or older than its sources,
// as scripts/setup.sh does for packages/*.
function ensureBuilt(): void {
  const built = statSync(join(pluginDir, "dist/index.js"), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const sources = readdirSync(join(pluginDir, "src"), { recursive: true, encoding: "utf8" }).map((f) => statSync(join(pluginDir, "src", f)).mtimeMs);
  if (Math.max(...sources, statSync(join(pluginDir, "package.json")).mtimeMs) > built) {
    execFileSync("npx", ["--no-install", "tsup", "--silent"], { cwd: pluginDir, stdio: "pipe" });
  }
}
ensureBuilt();
const binDir = mkdtempSync(join(tmpdir(), "eop-uprobe-bin-"));
const binary = compileProbeTarget(binDir);

const COUNT_CODE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u64);
} calls SEC(".maps");

SEC("uprobe")
int count_calls(void *ctx) {
  u32 key = 0;
  u64 *count = bpf_map_lookup_elem(&calls, &key);
  if (count)
    __sync_fetch_and_add(count, 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";`;

const HISTOGRAM_CODE = `#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#define EOP_HIST_LOG2_MAX 8
#include <ebpf-operator/histogram.h>

struct ret_key { u32 bucket; };

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16);
  __type(key, struct ret_key);
  __type(value, u64);
} returns SEC(".maps");

/* BPF_KRETPROBE reads the return register like BPF_URETPROBE, which libbpf 1.1 lacks. */
SEC("uretprobe")
int BPF_KRETPROBE(observe_return, unsigned long value) {
  struct ret_key key = {};
  EOP_HIST_LOG2_INC(returns, key, value);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";`;

const indent = (code: string) =>
  code
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");

function counterManifest(name: string, target: string): string {
  return `apiVersion: observability.cloud/v1
kind: EbpfMap
metadata:
  name: ${name}
spec:
  name: ${name}
  type: uprobe
  target: ${target}
  program: count_calls
  map: calls
  code: |
${indent(COUNT_CODE)}
`;
}

const HISTOGRAM_MANIFEST = `apiVersion: observability.cloud/v1
kind: EbpfMap
metadata:
  name: probe-returns
spec:
  type: uretprobe
  target: ${binary}:eop_probe_target
  program: observe_return
  metrics:
    - name: probe_target_return_value
      type: histogram
      map: returns
      histogram: { bucketType: exp2, bucketMin: 0, bucketMax: 8 }
  code: |
${indent(HISTOGRAM_CODE)}
`;

/** Runs the probe target: eop_probe_target(1..n). */
function runTarget(n: number): void {
  const result = spawnSync(binary, [String(n)], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`probe target exited ${result.status}: ${result.stderr}`);
  expect(Number(result.stdout)).toBe((n * (n + 1)) / 2);
}

function programExists(id: number): boolean {
  return (JSON.parse(execFileSync("bpftool", ["prog", "list", "-j"], { encoding: "utf8" })) as { id: number }[]).some((p) => p.id === id);
}

describe("ebpf-operator-plugin-uprobe in the built agent, loaded from its folder", () => {
  let workspace: AgentWorkspace;
  let agent: AgentProcess;
  const children: ChildProcess[] = [];
  const metrics = async () => (await fetchText(`${agent.url}/metrics`)).body;
  const calls = async (name: string) => sampleValue(await metrics(), `${name.replaceAll("-", "_")}_total`, { ebpfmap: name });
  const resource = async (name: string) => (await fetchStatus(agent.url)).resources.find((r) => r.name === name);
  const running = (name: string) =>
    waitFor(`${name} to be Running`, async () => {
      const s = await resource(name);
      if (s?.phase === "Failed" || s?.phase === "Unsupported") throw new Error(JSON.stringify(s.lastError));
      return s?.phase === "Running" ? s : undefined;
    });
  // `./examples/plugin-uprobe` from the repository root: a path, as an operator would configure it.
  const pluginArg = () => (process.cwd() === repoRoot.replace(/\/$/, "") ? `./${relative(process.cwd(), pluginDir)}` : pluginDir);
  const start = () => startAgent(workspace, [...BUILTIN_PLUGINS.flatMap((p) => ["--plugin", p]), "--plugin", pluginArg()]);

  beforeAll(async () => {
    workspace = createWorkspace("plugin-uprobe");
    mkdirSync(workspace.configDir, { recursive: true });
    writeFileSync(join(workspace.configDir, "probe-calls.yaml"), counterManifest("probe-calls", `${binary}:eop_probe_target`));
    writeFileSync(join(workspace.configDir, "probe-returns.yaml"), HISTOGRAM_MANIFEST);
    agent = await start();
  });

  afterAll(async () => {
    try {
      for (const child of children) child.kill("SIGKILL");
      await agent?.stop();
    } finally {
      workspace?.cleanup(); // removing the pins detaches whatever is left
    }
  });

  it("registers the plugin beside the built-ins and attaches both probes", async () => {
    expect(agent.logs).toContainEqual(
      expect.objectContaining({ msg: "plugin loaded", plugin: "ebpf-operator-plugin-uprobe", programTypes: ["uprobe", "uretprobe"] }),
    );
    expect((await running("probe-calls")).program!.attachments).toEqual([`uprobe ${binary}:eop_probe_target`]);
    expect((await running("probe-returns")).program!.attachments).toEqual([`uretprobe ${binary}:eop_probe_target`]);
  });

  it("counts exactly the calls of the function", async () => {
    expect(await calls("probe-calls")).toBe(0);
    runTarget(25);
    expect(await calls("probe-calls")).toBe(25);
    runTarget(7);
    expect(await calls("probe-calls")).toBe(32);
  });

  it("histograms exactly the values the function returned", async () => {
    // Returned so far: 1..25 and 1..7. Log2 buckets round up: le=1 holds 1, le=2 holds 2, le=4 holds 3-4, ...
    const values = [...Array.from({ length: 25 }, (_, i) => i + 1), ...Array.from({ length: 7 }, (_, i) => i + 1)];
    const body = await metrics();
    const labels = { ebpfmap: "probe-returns" };
    for (let bucket = 0; bucket <= 8; bucket++) {
      const le = 2 ** bucket;
      expect(sampleValue(body, "probe_target_return_value_bucket", { ...labels, le: String(le) }), `le=${le}`).toBe(values.filter((v) => v <= le).length);
    }
    expect(sampleValue(body, "probe_target_return_value_bucket", { ...labels, le: "+Inf" })).toBe(32);
    expect(sampleValue(body, "probe_target_return_value_count", labels)).toBe(32);
    expect(sampleValue(body, "probe_target_return_value_sum", labels)).toBe(325 + 28);
  });

  it("fires only in the given process with ?pid=", async () => {
    const waiting = spawn(binary, ["5", "wait"], { stdio: ["pipe", "ignore", "ignore"] });
    children.push(waiting);
    const exited = new Promise((resolve) => waiting.once("exit", resolve));
    // The process must have mapped the binary before the plugin checks it does.
    await waitFor("the probe target to start", async () =>
      execFileSync("cat", [`/proc/${waiting.pid}/maps`], { encoding: "utf8" }).includes(binary) ? true : undefined,
    );
    writeFileSync(join(workspace.configDir, "probe-pid.yaml"), counterManifest("probe-pid", `${binary}:eop_probe_target?pid=${waiting.pid}`));
    expect((await running("probe-pid")).program!.attachments).toEqual([`uprobe ${binary}:eop_probe_target (pid ${waiting.pid})`]);
    runTarget(3); // another process: not counted
    expect(await calls("probe-pid")).toBe(0);
    waiting.stdin!.end("go\n");
    await exited;
    expect(await calls("probe-pid")).toBe(5);
    rmSync(join(workspace.configDir, "probe-pid.yaml"));
    await waitFor("probe-pid to go", async () => ((await resource("probe-pid")) ? undefined : true));
  });

  it("keeps counting across kill -9 and is adopted without attaching twice", async () => {
    const before = (await running("probe-calls")).program!;
    const counted = (await calls("probe-calls"))!;
    await agent.stop("SIGKILL");
    runTarget(4); // the pinned link keeps the probe attached with no agent running
    agent = await start();
    const after = (await running("probe-calls")).program!;
    expect(after.adopted).toBe(true);
    expect(after.id).toBe(before.id);
    expect(await calls("probe-calls")).toBe(counted + 4);
    runTarget(6);
    expect(await calls("probe-calls")).toBe(counted + 10);
  });

  it("reports a missing function with the closest names", async () => {
    writeFileSync(join(workspace.configDir, "probe-typo.yaml"), counterManifest("probe-typo", `${binary}:eop_probe_targt`));
    const failed = await waitFor("probe-typo to fail", async () => {
      const s = await resource("probe-typo");
      return s?.phase === "Failed" ? s : undefined;
    });
    expect(failed.lastError?.code).toBe("EOP_ERR_TARGET_NOT_FOUND");
    expect(failed.lastError?.message).toContain(`function "eop_probe_targt" is not in the symbol tables of ${binary} (did you mean eop_probe_target`);
    rmSync(join(workspace.configDir, "probe-typo.yaml"));
  });

  it("runs examples/uprobe-readline.yaml on this machine's bash", async () => {
    writeFileSync(join(workspace.configDir, "uprobe-readline.yaml"), example("uprobe-readline.yaml"));
    const s = await running("bash-readline");
    expect(s.program!.attachments).toEqual(["uretprobe /usr/bin/bash:readline"]);
    rmSync(join(workspace.configDir, "uprobe-readline.yaml"));
    await waitFor("bash-readline to go", async () => ((await resource("bash-readline")) ? undefined : true));
  });

  it("detaches and frees the program when the file is deleted", async () => {
    const { id } = (await running("probe-calls")).program!;
    rmSync(join(workspace.configDir, "probe-calls.yaml"));
    await waitFor("probe-calls to go", async () => ((await resource("probe-calls")) ? undefined : true));
    runTarget(3);
    expect(await calls("probe-calls")).toBeUndefined();
    expect(await waitFor(`program ${id} to be freed`, async () => (programExists(id) ? undefined : true), 10_000)).toBe(true);
  });
});

// After every describe of the file: the conformance cycle below probes the binary too.
afterAll(() => rmSync(binDir, { recursive: true, force: true }));

describePluginConformance(uprobePlugin, {
  validTargets: [
    { type: "uprobe", target: `${binary}:eop_probe_target` },
    { type: "uretprobe", target: `${binary}:eop_probe_target` },
  ],
  invalidTargets: [
    { type: "uprobe", target: `${binary}` },
    { type: "uretprobe", target: `${binary}:eop_probe_target+4`, schemaAccepts: true },
  ],
  kernel: {
    type: "uprobe",
    target: `${binary}:eop_probe_target`,
    program: "count_calls",
    map: "calls",
    code: COUNT_CODE,
    exercise(loaded, phase) {
      const before = loaded.maps.get("calls")!.lookup(Buffer.alloc(4));
      runTarget(phase === "fresh" ? 3 : 4);
      const after = loaded.maps.get("calls")!.lookup(Buffer.alloc(4));
      expect(after!.readBigUInt64LE(0) - before!.readBigUInt64LE(0)).toBe(phase === "fresh" ? 3n : 4n);
    },
  },
});
