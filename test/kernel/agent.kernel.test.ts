/**
 * The standalone agent end to end on the real kernel: the built CLI, real clang, real libbpf,
 * real tracepoints, real pins, and promtool on what it serves.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_LISTEN, parseListenAddress } from "@ebpf-operator/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { COUNTER_CODE, example, tracepointManifest } from "../helpers/manifests.js";
import { fetchStatus, fetchText, promtoolCheck, runTimes, sampleValue } from "../helpers/metrics.js";

requireKernelCapabilities();

function linksOfProgram(programId: number): number {
  const links = JSON.parse(execFileSync("bpftool", ["link", "list", "-j"], { encoding: "utf8" })) as { prog_id: number }[];
  return links.filter((l) => l.prog_id === programId).length;
}

function programExists(programId: number): boolean {
  const programs = JSON.parse(execFileSync("bpftool", ["prog", "list", "-j"], { encoding: "utf8" })) as { id: number }[];
  return programs.some((p) => p.id === programId);
}

/** The kernel frees a program after an RCU grace period: give it a moment. */
async function programGone(programId: number): Promise<boolean> {
  return waitFor(`program ${programId} to be freed`, async () => (programExists(programId) ? undefined : true), 10_000);
}

async function resourceStatus(agent: AgentProcess, name: string, namespace = "default") {
  return (await fetchStatus(agent.url)).resources.find((r) => r.name === name && r.namespace === namespace);
}

async function waitForPhase(agent: AgentProcess, name: string, phase: string, namespace = "default") {
  return waitFor(`${namespace}/${name} to be ${phase}`, async () => {
    const status = await resourceStatus(agent, name, namespace);
    return status?.phase === phase ? status : undefined;
  });
}

async function metric(agent: AgentProcess, name: string, labels: Record<string, string>): Promise<number | undefined> {
  return sampleValue((await fetchText(`${agent.url}/metrics`)).body, name, labels);
}

describe("standalone agent with the bundled examples", () => {
  let workspace: AgentWorkspace;
  let agent: AgentProcess;

  beforeAll(async () => {
    workspace = createWorkspace("examples");
    mkdirSync(workspace.configDir, { recursive: true });
    writeFileSync(join(workspace.configDir, "quick-start.yaml"), example("quick-start.yaml"));
    writeFileSync(join(workspace.configDir, "execve-tracepoint.yaml"), example("execve-tracepoint.yaml"));
    agent = await startAgent(workspace);
  });

  afterAll(async () => {
    await agent?.stop();
    workspace?.cleanup();
  });

  it("counts execve through the tracepoint example as execve_counter_total", async () => {
    await waitForPhase(agent, "execve-tracepoint", "Running");
    const labels = { namespace: "default", ebpfmap: "execve-tracepoint" };
    const before = (await metric(agent, "execve_counter_total", labels)) ?? 0;
    runTimes("/bin/true", 20);
    const after = await metric(agent, "execve_counter_total", labels);
    expect(after! - before).toBeGreaterThanOrEqual(20);
  });

  it("reports that this kernel lacks kprobes for the quick-start manifest, with a tracepoint hint", async () => {
    const status = await waitForPhase(agent, "syscall-monitor", "Unsupported");
    expect(status.lastError?.code).toBe("EOP_ERR_KERNEL_UNSUPPORTED");
    expect(status.lastError?.message).toMatch(/kprobe support/);
    expect(status.lastError?.message).toContain("syscalls/sys_enter_execve");
    expect(status.conditions).toContainEqual(expect.objectContaining({ type: "Ready", status: "False", reason: "KernelUnsupported" }));
    const body = (await fetchText(`${agent.url}/metrics`)).body;
    expect(sampleValue(body, "ebpf_operator_agent_attached", { ebpfmap: "syscall-monitor" })).toBe(0);
    expect(sampleValue(body, "ebpf_operator_agent_attached", { ebpfmap: "execve-tracepoint" })).toBe(1);
  });

  it("serves /metrics that promtool accepts, with the Prometheus text content type", async () => {
    const response = await fetchText(`${agent.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    const check = promtoolCheck(response.body);
    expect(check.problems).toEqual([]);
    // The one style note promtool has is about the names the issue and the README mandate.
    expect(check.styleNotes).toEqual(["execve_counter_total metric name should not include type 'counter'"]);
  });

  it("answers /healthz and /readyz", async () => {
    expect((await fetchText(`${agent.url}/healthz`)).status).toBe(200);
    expect((await fetchText(`${agent.url}/readyz`)).status).toBe(200);
  });

  it("keeps its plain local default: HTTP on loopback, no token asked, the namespace views open too", async () => {
    // Cluster mode serves HTTPS and checks tokens (test/kube/reads.kube.test.ts); standalone does neither.
    expect(parseListenAddress(DEFAULT_LISTEN).host).toBe("127.0.0.1");
    expect(agent.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await waitForPhase(agent, "execve-tracepoint", "Running");
    for (const path of ["/metrics", "/status", "/namespaces/default/metrics", "/namespaces/default/status"]) {
      expect((await fetchText(`${agent.url}${path}`)).status, path).toBe(200);
    }
    const view = (await fetchText(`${agent.url}/namespaces/default/metrics`)).body;
    expect(sampleValue(view, "execve_counter_total", { namespace: "default", ebpfmap: "execve-tracepoint" })).toBeGreaterThan(0);
    expect(view).not.toMatch(/^(# HELP )?ebpf_operator_agent_/m);
    expect((await fetchText(`${agent.url}/namespaces/other/metrics`)).body).not.toContain("execve_counter_total");
  });

  it("pins maps, the link and the program under <root>/<namespace>/<name>/<loadKey>/", async () => {
    const status = await resourceStatus(agent, "execve-tracepoint");
    const dir = status!.program!.pinDir;
    expect(dir.startsWith(join(workspace.pinRoot, "default", "execve-tracepoint"))).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(["link_0", "map_execve_count", "program"]);
  });
});

describe("standalone agent lifecycle", () => {
  // Every test has a resource (and file) of its own, and starts the shared agent if an earlier
  // test left it stopped: no test depends on another's outcome.
  let workspace: AgentWorkspace;
  let agent: AgentProcess | undefined;
  const file = (name: string) => join(workspace.configDir, `${name}.yaml`);
  const labels = (name: string) => ({ namespace: "team-a", ebpfmap: name });
  const write = (name: string, code = COUNTER_CODE) =>
    writeFileSync(file(name), tracepointManifest({ name, namespace: "team-a", metric: "lifecycle-execs", code }));

  async function runningAgent(): Promise<AgentProcess> {
    if (!agent || agent.child.exitCode !== null || agent.child.signalCode !== null) agent = await startAgent(workspace);
    return agent;
  }

  /** Writes the resource's file and waits until the agent runs exactly that spec. */
  async function running(name: string, code = COUNTER_CODE) {
    const current = await runningAgent();
    const before = (await resourceStatus(current, name, "team-a"))?.program?.id;
    write(name, code);
    // A resource of its own is new to the agent, so its first Running status is this spec's.
    if (before !== undefined) throw new Error(`${name} already exists: every test needs a resource of its own`);
    return waitForPhase(current, name, "Running", "team-a");
  }

  beforeAll(() => {
    workspace = createWorkspace("lifecycle");
    mkdirSync(workspace.configDir, { recursive: true });
  });

  afterAll(async () => {
    await agent?.stop("SIGKILL");
    workspace?.cleanup();
  });

  it("adopts its pins after kill -9: same program, counter not reset, attached once", async () => {
    const first = await running("adopted");
    runTimes("/bin/true", 5);
    const before = (await metric(agent!, "lifecycle_execs_total", labels("adopted")))!;
    expect(before).toBeGreaterThanOrEqual(5);

    await agent!.stop("SIGKILL");
    // The program keeps counting while no agent runs.
    runTimes("/bin/true", 5);
    agent = await startAgent(workspace);
    const second = await waitForPhase(agent, "adopted", "Running", "team-a");
    expect(second.program!.adopted).toBe(true);
    expect(second.program!.id).toBe(first.program!.id);
    expect(linksOfProgram(second.program!.id)).toBe(1);
    const after = (await metric(agent, "lifecycle_execs_total", labels("adopted")))!;
    expect(after).toBeGreaterThanOrEqual(before + 5);
  });

  it("replaces the program when the code changes, detaching the old one", async () => {
    const old = (await running("replaced")).program!;
    write("replaced", `${COUNTER_CODE}\n// changed\n`);
    const replaced = await waitFor("the new program", async () => {
      const status = await resourceStatus(agent!, "replaced", "team-a");
      return status?.phase === "Running" && status.program!.id !== old.id ? status : undefined;
    });
    expect(replaced.program!.adopted).toBe(false);
    expect(existsSync(old.pinDir)).toBe(false);
    expect(await programGone(old.id)).toBe(true);
    expect(linksOfProgram(replaced.program!.id)).toBe(1);
  });

  it("keeps the running program when an edit breaks the code, and says so", async () => {
    const previous = (await running("broken")).program!;
    runTimes("/bin/true", 1);
    write("broken", `${COUNTER_CODE}\nint broken(void) { return undeclared; }\n`);
    const degraded = await waitForPhase(agent!, "broken", "Degraded", "team-a");
    expect(degraded.program!.id).toBe(previous.id);
    expect(degraded.lastError?.code).toBe("EOP_ERR_COMPILE_FAILED");
    expect(degraded.conditions).toContainEqual(expect.objectContaining({ type: "Ready", status: "True", reason: "RunningPreviousSpec" }));
    expect(await metric(agent!, "lifecycle_execs_total", labels("broken"))).toBeGreaterThan(0);
  });

  it("detaches and unpins a resource whose file is deleted", async () => {
    const last = (await running("deleted")).program!;
    rmSync(file("deleted"));
    await waitFor("the resource to go", async () => ((await resourceStatus(agent!, "deleted", "team-a")) ? undefined : true));
    expect(existsSync(join(workspace.pinRoot, "team-a", "deleted"))).toBe(false);
    expect(await programGone(last.id)).toBe(true);
    expect(await metric(agent!, "lifecycle_execs_total", labels("deleted"))).toBeUndefined();
  });

  it("a SIGTERM while it starts (before its first sync has compiled, loaded and pinned) stops it cleanly once started, not by the signal's default action", async () => {
    await agent?.stop("SIGTERM");
    agent = undefined;
    // Code no earlier run compiled: the first sync compiles it, well after the HTTP server listens.
    write("term-at-start", `${COUNTER_CODE}\n// ${process.pid}-${Date.now()}\n`);
    const starting = await startAgent(workspace); // resolves at "agent listening", before the first sync
    const exitCode = await starting.stop("SIGTERM");
    expect({ exitCode, signal: starting.child.signalCode }).toEqual({ exitCode: 0, signal: null });
    // The start was finished, not cut: its generation is pinned complete (the program pin comes last).
    const dir = join(workspace.pinRoot, "team-a", "term-at-start");
    const generations = readdirSync(dir);
    expect(generations).toHaveLength(1);
    expect(readdirSync(join(dir, generations[0]!))).toContain("program");
  });

  it("removes at start-up the pins of a resource deleted while the agent was down", async () => {
    const status = await running("deleted-while-down");
    await agent!.stop("SIGTERM"); // a clean stop keeps the pins
    expect(existsSync(status.program!.pinDir)).toBe(true);
    expect(programExists(status.program!.id)).toBe(true);
    rmSync(file("deleted-while-down"));
    agent = await startAgent(workspace);
    await waitFor("the ready agent", async () => ((await fetchStatus(agent!.url)).ready ? true : undefined));
    expect(existsSync(join(workspace.pinRoot, "team-a", "deleted-while-down"))).toBe(false);
    expect(await programGone(status.program!.id)).toBe(true);
  });
});

describe("programs with global variables", () => {
  // Globals live in libbpf's internal maps ("<object>.rodata", "<object>.bss"), whose names
  // bpffs would refuse as pins: the agent must load, pin and adopt such programs all the same.
  const GLOBALS_CODE = COUNTER_CODE.replace(
    'SEC("tracepoint/syscalls/sys_enter_execve")',
    'const volatile u64 increment = 1;\nu64 calls;\n\nSEC("tracepoint/syscalls/sys_enter_execve")',
  ).replace("__sync_fetch_and_add(count, 1);", "__sync_fetch_and_add(count, increment);\n  calls++;");
  let workspace: AgentWorkspace;
  let agent: AgentProcess | undefined;

  beforeAll(() => {
    workspace = createWorkspace("globals");
    mkdirSync(workspace.configDir, { recursive: true });
    writeFileSync(join(workspace.configDir, "globals.yaml"), tracepointManifest({ name: "globals", metric: "globals-execs", code: GLOBALS_CODE }));
  });

  afterAll(async () => {
    await agent?.stop("SIGKILL");
    workspace?.cleanup();
  });

  it("loads, counts, pins only its own maps, and is adopted after kill -9", async () => {
    agent = await startAgent(workspace);
    const first = await waitForPhase(agent, "globals", "Running");
    expect(readdirSync(first.program!.pinDir).sort()).toEqual(["link_0", "map_execve_count", "program"]);
    runTimes("/bin/true", 3);
    expect(await metric(agent, "globals_execs_total", { ebpfmap: "globals" })).toBeGreaterThanOrEqual(3);

    await agent.stop("SIGKILL");
    agent = await startAgent(workspace);
    const second = await waitForPhase(agent, "globals", "Running");
    expect(second.program!.adopted).toBe(true);
    expect(second.program!.id).toBe(first.program!.id);
  });
});
