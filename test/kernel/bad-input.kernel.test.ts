/**
 * One bad resource never takes down the agent or another resource: every kind of bad input
 * becomes that resource's status (with the real message), while a good resource beside them
 * keeps counting and /metrics stays valid.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_PLUGINS } from "@ebpf-operator/core";
import { createWorkspace, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { COUNTER_CODE, tracepointManifest } from "../helpers/manifests.js";
import { fetchStatus, fetchText, promtoolCheck, runTimes, sampleValue, type StatusDocument } from "../helpers/metrics.js";

requireKernelCapabilities();

// A hash-map lookup may return NULL: using it unchecked is what the verifier refuses. (Array
// lookups with a constant in-range key are known non-NULL to recent verifiers.)
const VERIFIER_REJECTS = COUNTER_CODE.replace("BPF_MAP_TYPE_ARRAY", "BPF_MAP_TYPE_HASH").replace(
  "if (count)\n    __sync_fetch_and_add(count, 1);",
  "__sync_fetch_and_add(count, 1); /* no NULL check */",
);
const WIDE_VALUE = COUNTER_CODE.replace("__type(value, u64);", "__type(value, struct { u64 a; u64 b; });").replace(
  "u64 *count = bpf_map_lookup_elem(&execve_count, &key);\n  if (count)\n    __sync_fetch_and_add(count, 1);",
  "void *v = bpf_map_lookup_elem(&execve_count, &key);\n  if (v) {}",
);

const BAD: Record<string, string> = {
  "compile-error": tracepointManifest({ name: "compile-error", code: COUNTER_CODE.replace("u32 key = 0;", "u32 key = 0\n  int y = ;") }),
  "verifier-reject": tracepointManifest({ name: "verifier-reject", code: VERIFIER_REJECTS }),
  "missing-program": tracepointManifest({ name: "missing-program", program: "count_exec" }),
  "missing-map": tracepointManifest({ name: "missing-map", map: "exec_count" }),
  "wide-value": tracepointManifest({ name: "wide-value", code: WIDE_VALUE }),
  "unknown-type": tracepointManifest({ name: "unknown-type", type: "lsm" }),
  "no-such-tracepoint": tracepointManifest({ name: "no-such-tracepoint", target: "syscalls/sys_enter_execv" }),
  "bad-target": tracepointManifest({ name: "bad-target", target: "execve" }),
  "schema-violation": tracepointManifest({ name: "schema-violation", prometheusType: "summary" }),
  // A type pod scope cannot confine (tp_btf: no gate for tracing programs): refused, never run node-wide instead.
  "pod-scoped": `${tracepointManifest({ name: "pod-scoped", type: "tp_btf", target: "sys_enter" })}  selector:\n    matchLabels:\n      app: web\n`,
};
// The same served name as the good resources' counter, as a gauge: written once the good ones
// run, so they own the name whatever order the agent works in.
const METRIC_CLASH = tracepointManifest({ name: "metric-clash", metric: "good_execs_total", prometheusType: "gauge" });

describe("bad input beside a good resource", () => {
  let workspace: AgentWorkspace;
  let agent: AgentProcess;
  let status: StatusDocument;
  const byName = (name: string) => status.resources.find((r) => r.name === name);

  beforeAll(async () => {
    workspace = createWorkspace("bad-input");
    mkdirSync(workspace.configDir, { recursive: true });
    writeFileSync(join(workspace.configDir, "00-good.yaml"), tracepointManifest({ name: "good", metric: "good-execs" }));
    // Same name in another namespace: no collision of pins, status or series.
    writeFileSync(join(workspace.configDir, "01-good-other-namespace.yaml"), tracepointManifest({ name: "good", namespace: "team-b", metric: "good-execs" }));
    for (const [name, manifest] of Object.entries(BAD)) writeFileSync(join(workspace.configDir, `${name}.yaml`), manifest);
    writeFileSync(join(workspace.configDir, "broken.yaml"), "apiVersion: observability.cloud/v1\nkind: EbpfMap\nmetadata: [oops\n");
    agent = await startAgent(workspace, ["--plugin", "./no-such-plugin-dir", ...BUILTIN_PLUGINS.flatMap((p) => ["--plugin", p])]);
    await waitFor("both good resources to run", async () => {
      const current = await fetchStatus(agent.url);
      return current.resources.filter((r) => r.name === "good" && r.phase === "Running").length === 2 ? true : undefined;
    });
    writeFileSync(join(workspace.configDir, "metric-clash.yaml"), METRIC_CLASH);
    status = await waitFor("every resource to settle", async () => {
      const current = await fetchStatus(agent.url);
      const settled = current.ready && current.resources.every((r) => r.phase !== "Pending");
      return settled && current.resources.some((r) => r.name === "metric-clash") ? current : undefined;
    });
  });

  afterAll(async () => {
    await agent?.stop();
    workspace?.cleanup();
  });

  it("keeps counting with the good resources in both namespaces", async () => {
    expect(byName("good")?.phase).toBe("Running");
    const body = () => fetchText(`${agent.url}/metrics`).then((r) => r.body);
    const before = sampleValue(await body(), "good_execs_total", { namespace: "default", ebpfmap: "good" }) ?? 0;
    runTimes("/bin/true", 10);
    const text = await body();
    expect(sampleValue(text, "good_execs_total", { namespace: "default", ebpfmap: "good" })! - before).toBeGreaterThanOrEqual(10);
    expect(sampleValue(text, "good_execs_total", { namespace: "team-b", ebpfmap: "good" })).toBeGreaterThanOrEqual(10);
  });

  it.each([
    ["compile-error", "EOP_ERR_COMPILE_FAILED", /compile EbpfMap "default\/compile-error": \d+:\d+: error: /],
    ["verifier-reject", "EOP_ERR_LOAD_VERIFIER", /verifier rejected it:[\s\S]*(map_value_or_null|invalid mem access)/],
    ["missing-program", "EOP_ERR_PROGRAM_NOT_FOUND", /spec.program "count_exec" .*programs: count_execve/],
    ["missing-map", "EOP_ERR_MAP_NOT_FOUND", /spec.map "exec_count" .*maps: execve_count/],
    ["wide-value", "EOP_ERR_MAP_VALUE_UNSUPPORTED", /16-byte values/],
    ["unknown-type", "EOP_ERR_PROGRAM_TYPE_UNKNOWN", /no plugin handles program type "lsm" \(available: .*tracepoint/],
    ["no-such-tracepoint", "EOP_ERR_TARGET_NOT_FOUND", /did you mean syscalls\/sys_enter_execve/],
    ["bad-target", "EOP_ERR_TARGET_INVALID", /spec.target "execve"/],
    ["schema-violation", "EOP_ERR_MANIFEST_INVALID", /spec.prometheusType: must be one of "counter", "gauge"/],
    [
      "pod-scoped",
      "EOP_ERR_POD_SCOPE_UNSUPPORTED",
      /spec.selector: spec.type "tp_btf" cannot be confined to pods: .*does not run a pod-scoped resource node-wide/,
    ],
    ["metric-clash", "EOP_ERR_METRIC_CONFLICT", /already served on this node by EbpfMap "default\/good" as a counter/],
  ])("reports %s as %s with the real message", (name, code, message) => {
    const resource = byName(name);
    expect(resource?.phase).toBe("Failed");
    expect(resource?.lastError?.code).toBe(code);
    expect(resource?.lastError?.message).toMatch(message);
  });

  it.each([
    ["unknown-type", "InvalidSpec"],
    ["no-such-tracepoint", "InvalidSpec"],
    ["bad-target", "InvalidSpec"],
    ["pod-scoped", "InvalidSpec"],
    ["verifier-reject", "LoadFailed"],
    ["compile-error", "CompileFailed"],
  ])("gives %s the Ready reason %s", (name, reason) => {
    expect(byName(name)?.conditions).toContainEqual(expect.objectContaining({ type: "Ready", status: "False", reason }));
  });

  it("reports a file that is not YAML with its line", () => {
    expect(status.problems).toContainEqual(
      expect.objectContaining({ code: "EOP_ERR_MANIFEST_YAML", message: expect.stringMatching(/broken\.yaml: document 1, line \d+: invalid YAML/) }),
    );
  });

  it("reports a plugin that fails to load and keeps the others", async () => {
    const text = (await fetchText(`${agent.url}/metrics`)).body;
    expect(sampleValue(text, "ebpf_operator_agent_plugins", { plugin: "./no-such-plugin-dir", loaded: "false" })).toBe(1);
    expect(sampleValue(text, "ebpf_operator_agent_plugins", { plugin: "@ebpf-operator/plugin-tracepoint", loaded: "true" })).toBe(1);
  });

  it("counts the failures and keeps /metrics valid", async () => {
    const text = (await fetchText(`${agent.url}/metrics`)).body;
    expect(sampleValue(text, "ebpf_operator_agent_attach_failures_total", { ebpfmap: "verifier-reject", code: "EOP_ERR_LOAD_VERIFIER" })).toBe(1);
    expect(sampleValue(text, "ebpf_operator_agent_resources", { phase: "Failed" })).toBe(Object.keys(BAD).length + 1); // + metric-clash
    expect(promtoolCheck(text).problems).toEqual([]);
  });
});
