/**
 * The standalone agent and its compiler's sandbox, end to end: the built CLI on the real kernel.
 * With bubblewrap it says so in /status and its metrics; where the sandbox cannot be had it says
 * so loudly (stderr, an error log line, /status, ebpf_operator_compile_sandbox{mode="none"}) and,
 * unless told to require the sandbox, still runs the manifests (the include policy is then the
 * only barrier); with --compile-sandbox required it refuses to compile instead.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createWorkspace, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { tracepointManifest } from "../helpers/manifests.js";
import { fetchStatus, fetchText, sampleValue } from "../helpers/metrics.js";

requireKernelCapabilities();

describe("standalone agent: the compiler sandbox", () => {
  let workspace: AgentWorkspace | undefined;
  let agent: AgentProcess | undefined;

  afterEach(async () => {
    await agent?.stop();
    workspace?.cleanup();
    agent = undefined;
    workspace = undefined;
  });

  async function start(label: string, args: string[]): Promise<AgentProcess> {
    workspace = createWorkspace(label);
    mkdirSync(workspace.configDir, { recursive: true });
    // A fresh code (its own cache key), so the compile really runs in this configuration.
    const code = `// ${label} ${process.pid}\n#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nstruct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, u32); __type(value, u64); } execve_count SEC(".maps");\nSEC("tracepoint/syscalls/sys_enter_execve") int count_execve(void *ctx) { u32 k = 0; u64 *v = bpf_map_lookup_elem(&execve_count, &k); if (v) __sync_fetch_and_add(v, 1); return 0; }\nchar LICENSE[] SEC("license") = "GPL";`;
    writeFileSync(join(workspace.configDir, "counter.yaml"), tracepointManifest({ name: "sandbox-counter", code }));
    agent = await startAgent(workspace, args);
    return agent;
  }

  it("compiles in the sandbox and says so in /status and the metrics", async () => {
    const a = await start("sandbox-on", []);
    await waitFor(
      "Running",
      async () => ((await fetchStatus(a.url)).resources.find((r) => r.name === "sandbox-counter")?.phase === "Running" ? true : undefined),
      60_000,
    );
    const status = await fetchStatus(a.url);
    expect(status.compiler?.sandbox).toMatchObject({ mode: "bwrap", uid: 65534 });
    expect(status.compiler?.warning).toBeUndefined();
    const metrics = (await fetchText(`${a.url}/metrics`)).body;
    expect(sampleValue(metrics, "ebpf_operator_compile_sandbox", { mode: "bwrap" })).toBe(1);
    expect(sampleValue(metrics, "ebpf_operator_compile_requests_total", { result: "compiled" })).toBe(1);
  });

  it("says loudly at start and in /status when the sandbox cannot be had, and still runs the manifests", async () => {
    const a = await start("sandbox-missing", ["--bwrap-path", "/nonexistent/bwrap"]);
    // Probed beside start-up: the banner follows "agent listening" closely.
    const banner = await waitFor("the banner", async () =>
      a.logs.find((l) => typeof l.msg === "string" && l.msg.startsWith("*** COMPILER SANDBOX UNAVAILABLE")),
    );
    expect(banner.msg).toContain("/nonexistent/bwrap");
    // The error log line goes through the logger's own (asynchronous) stream: it may follow the banner.
    await waitFor("the error log line", async () =>
      a.logs.some((l) => l.level === "error" && String(l.msg).startsWith("COMPILER SANDBOX UNAVAILABLE")) ? true : undefined,
    );
    const status = await fetchStatus(a.url);
    expect(status.compiler?.sandbox.mode).toBe("none");
    expect(status.compiler?.warning).toMatch(/^COMPILER SANDBOX UNAVAILABLE: clang compiles the manifests' C unconfined/);
    expect(sampleValue((await fetchText(`${a.url}/metrics`)).body, "ebpf_operator_compile_sandbox", { mode: "none" })).toBe(1);
    await waitFor(
      "Running",
      async () => ((await fetchStatus(a.url)).resources.find((r) => r.name === "sandbox-counter")?.phase === "Running" ? true : undefined),
      60_000,
    );
  });

  it("with --compile-sandbox required, fails the resource instead of compiling unconfined", async () => {
    const a = await start("sandbox-required", ["--bwrap-path", "/nonexistent/bwrap", "--compile-sandbox", "required"]);
    const failed = await waitFor(
      "Failed",
      async () => {
        const r = (await fetchStatus(a.url)).resources.find((x) => x.name === "sandbox-counter");
        return r?.phase === "Failed" ? r : undefined;
      },
      60_000,
    );
    expect(failed.lastError?.code).toBe("EOP_ERR_COMPILE_SANDBOX_UNAVAILABLE");
    expect(failed.lastError?.message).toContain("bubblewrap (bwrap) was not found at /nonexistent/bwrap");
  });
});
