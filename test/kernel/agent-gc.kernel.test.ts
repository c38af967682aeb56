/**
 * The agent's own V8 options, seen in the running agent: scavenges run on the main thread alone
 * (`--no-parallel-scavenge`, set at start-up by host/gc-flags.ts; docs/architecture.md says why).
 * V8's `--trace-gc-nvp` line for each scavenge names the time its helper threads worked
 * (`background.scavenge.parallel`): with parallel scavenges most of a busy scrape's have some.
 */
import { createInterface } from "node:readline";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace, startAgent, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { example } from "../helpers/manifests.js";
import { fetchText } from "../helpers/metrics.js";

requireKernelCapabilities();

describe("agent GC options", () => {
  let workspace: AgentWorkspace;
  let agent: AgentProcess;
  /** Helper-thread time (ms) of each scavenge, in order. */
  const scavenges: number[] = [];

  beforeAll(async () => {
    workspace = createWorkspace("gc");
    mkdirSync(workspace.configDir, { recursive: true });
    writeFileSync(join(workspace.configDir, "execve-tracepoint.yaml"), example("execve-tracepoint.yaml"));
    // A young generation of 1 MiB (the agent runs with 2 MiB): scavenges every few scrapes.
    agent = await startAgent(workspace, [], { nodeArgs: ["--trace-gc-nvp", "--max-semi-space-size=1"], pipeStdout: true });
    createInterface({ input: agent.child.stdout! }).on("line", (line) => {
      if (!line.includes(" gc=s ")) return;
      const background = /background\.scavenge\.parallel=([0-9.]+)/.exec(line);
      if (background) scavenges.push(Number(background[1]));
    });
  });

  afterAll(async () => {
    await agent?.stop();
    workspace?.cleanup();
  });

  it("scavenges without V8's helper threads while it serves scrapes", async () => {
    // Lines of scavenges before the options were set may still be in the pipe: start counting later.
    await new Promise((r) => setTimeout(r, 300));
    const from = scavenges.length;
    for (let i = 0; i < 400 && scavenges.length - from < 20; i++) {
      const { status } = await fetchText(`${agent.url}/metrics`);
      expect(status).toBe(200);
    }
    const during = scavenges.slice(from);
    expect(during.length).toBeGreaterThanOrEqual(20);
    expect(during.filter((ms) => ms > 0)).toEqual([]);
  });
});
