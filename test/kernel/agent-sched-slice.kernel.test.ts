/**
 * The agent's main thread runs with a 0.1 ms scheduler slice (host/sched-slice.ts; issue 16),
 * seen from outside in the running agent: the kernel's own account of the thread,
 * `/proc/<pid>/sched` (`se.slice`). With the A/B override set to 0 the thread keeps the kernel's
 * default, so the check can tell the two apart. This machine's kernel (6.18) has custom slices;
 * on one without them the agent logs that and the first case fails, as it should.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createWorkspace, startAgent, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { example } from "../helpers/manifests.js";

requireKernelCapabilities();

/** `se.slice` (ns) of one thread, from the kernel's scheduler statistics. */
function threadSlice(pid: number, tid = pid): number {
  const text = readFileSync(`/proc/${pid}/task/${tid}/sched`, "utf8");
  const match = /^se\.slice\s*:\s*(\d+)/m.exec(text);
  if (!match) throw new Error(`no se.slice in /proc/${pid}/task/${tid}/sched`);
  return Number(match[1]);
}

describe("agent main-thread scheduler slice", () => {
  let workspace: AgentWorkspace | undefined;
  let agent: AgentProcess | undefined;

  afterEach(async () => {
    await agent?.stop();
    workspace?.cleanup();
    agent = undefined;
    workspace = undefined;
  });

  async function start(env: NodeJS.ProcessEnv): Promise<AgentProcess> {
    workspace = createWorkspace("sched");
    mkdirSync(workspace.configDir, { recursive: true });
    writeFileSync(join(workspace.configDir, "execve-tracepoint.yaml"), example("execve-tracepoint.yaml"));
    agent = await startAgent(workspace, [], { env });
    return agent;
  }

  it("asks for a 0.1 ms slice on the main thread", async () => {
    const { EOP_MAIN_THREAD_SLICE_NS: _ignored, ...env } = process.env;
    const { child } = await start(env);
    expect(threadSlice(child.pid!)).toBe(100_000);
  });

  it("leaves the kernel's default slice with the override at 0", async () => {
    const { child } = await start({ ...process.env, EOP_MAIN_THREAD_SLICE_NS: "0" });
    expect(threadSlice(child.pid!)).toBeGreaterThan(100_000);
  });
});
