/**
 * examples/cgroup-egress.yaml end to end on the real kernel: the built agent attaches it to a
 * child cgroup made here (the example's /system.slice rewritten; tests never attach to the root),
 * a process placed in that cgroup sends UDP to a listener on 127.0.0.1, and /metrics must show
 * exactly the bytes of its IP packets under the cgroup's path (core's uint -> cgroup decoders
 * turn the cgroup id the program counts by into the path).
 */
import { execFileSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { existsSync, mkdirSync, rmSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findCgroup2Mount } from "../../packages/plugin-cgroup/src/cgroup-mount.js";
import { createWorkspace, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { example } from "../helpers/manifests.js";
import { fetchStatus, fetchText, sampleValue } from "../helpers/metrics.js";

requireKernelCapabilities();

/** A UDP datagram at the cgroup egress hook: IPv4 20 + UDP 8 + payload (no link-layer header yet). */
const packetBytes = (payload: number) => 20 + 8 + payload;

function attachedPrograms(directory: string): { id: number; attach_type: string }[] {
  // bpftool prints nothing at all for a cgroup without programs.
  const out = execFileSync("bpftool", ["cgroup", "show", directory, "-j"], { encoding: "utf8" }).trim();
  return out === "" ? [] : (JSON.parse(out) as { id: number; attach_type: string }[]);
}

describe("cgroup plugin with examples/cgroup-egress.yaml", () => {
  const name = `eop-test-cgroup-${process.pid}`;
  let directory: string;
  let cgroupId: string;
  let listener: Socket;
  let workspace: AgentWorkspace;
  let agent: AgentProcess;
  const file = () => join(workspace.configDir, "cgroup-egress.yaml");
  const status = async () => (await fetchStatus(agent.url)).resources.find((r) => r.name === "cgroup-egress");
  const metrics = async () => (await fetchText(`${agent.url}/metrics`)).body;
  const egressBytes = async () => sampleValue(await metrics(), "cgroup_egress_bytes_total", { ebpfmap: "cgroup-egress", cgroup: `/${name}` });

  /** Runs a process in the test cgroup that sends `count` datagrams of `payload` bytes to the listener; resolves once all arrived. */
  async function sendFromCgroup(count: number, payload: number): Promise<void> {
    let got = 0;
    let onMessage: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => {
      onMessage = () => {
        if (++got === count) resolve();
      };
      listener.on("message", onMessage);
    });
    const script =
      `require("fs").writeFileSync(${JSON.stringify(join(directory, "cgroup.procs"))}, String(process.pid));` +
      `const s=require("dgram").createSocket("udp4");const b=Buffer.alloc(${payload},120);let i=0;` +
      `const f=()=>s.send(b,${listener.address().port},"127.0.0.1",(e)=>{if(e)throw e;if(++i<${count})f();else s.close()});f();`;
    try {
      execFileSync(process.execPath, ["-e", script], { stdio: "pipe" });
      await Promise.race([arrived, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${got} of ${count} datagrams arrived`)), 10_000))]);
    } finally {
      listener.off("message", onMessage);
    }
  }

  beforeAll(async () => {
    const mount = await findCgroup2Mount();
    if (!mount) throw new Error("kernel tests need a cgroup v2 hierarchy");
    directory = join(mount, name);
    mkdirSync(directory);
    cgroupId = String(statSync(directory).ino);
    listener = createSocket("udp4");
    await new Promise<void>((resolve) => listener.bind(0, "127.0.0.1", resolve));
    workspace = createWorkspace("plugin-cgroup");
    mkdirSync(workspace.configDir, { recursive: true });
    // A path in the hierarchy, as /proc/<pid>/cgroup writes it: the plugin finds the mount.
    writeFileSync(file(), example("cgroup-egress.yaml").replace(/^ {2}target: .*$/m, `  target: cgroup/skb/egress:/${name}`));
    agent = await startAgent(workspace);
  });

  afterAll(async () => {
    try {
      await agent?.stop();
      listener?.close();
    } finally {
      workspace?.cleanup(); // removing the pins detaches whatever is left
      // The senders have exited, so the cgroup is empty and can go.
      if (directory && existsSync(directory)) rmdirSync(directory);
    }
  });

  it("runs the example on the test's cgroup", async () => {
    const s = await waitFor("cgroup-egress to be Running", async () => {
      const r = await status();
      if (r?.phase === "Failed" || r?.phase === "Unsupported") throw new Error(JSON.stringify(r.lastError));
      return r?.phase === "Running" ? r : undefined;
    });
    expect(s.program!.attachments).toEqual([`cgroup/skb/egress on cgroup ${directory}`]);
    expect(attachedPrograms(directory)).toEqual([expect.objectContaining({ id: s.program!.id, attach_type: "cgroup_inet_egress" })]);
  });

  it("counts exactly the bytes a process in the cgroup sends, under the cgroup's path", async () => {
    await sendFromCgroup(10, 100);
    expect(await egressBytes()).toBe(10 * packetBytes(100));
    // The id the program counts by is shown as the path, never raw or as unknown:<id>.
    expect(await metrics()).not.toMatch(new RegExp(`="(unknown:)?${cgroupId}"`));
    await sendFromCgroup(4, 1200);
    expect(await egressBytes()).toBe(10 * packetBytes(100) + 4 * packetBytes(1200));
  });

  it("does not count processes outside the cgroup", async () => {
    const before = await egressBytes();
    const sender = createSocket("udp4");
    await new Promise<void>((resolve, reject) => sender.send(Buffer.alloc(500), listener.address().port, "127.0.0.1", (e) => (e ? reject(e) : resolve())));
    sender.close();
    expect(await egressBytes()).toBe(before);
  });

  it("detaches from the cgroup when the file is deleted", async () => {
    rmSync(file());
    await waitFor("the resource to go", async () => ((await status()) ? undefined : true));
    expect(attachedPrograms(directory)).toEqual([]);
    expect(await egressBytes()).toBeUndefined();
  });

  it("reports a missing cgroup with the closest names", async () => {
    writeFileSync(file(), example("cgroup-egress.yaml").replace(/^ {2}target: .*$/m, `  target: cgroup/skb/egress:/${name.slice(0, -1)}`));
    const failed = await waitFor("cgroup-egress to fail", async () => {
      const r = await status();
      return r?.phase === "Failed" ? r : undefined;
    });
    expect(failed.lastError?.code).toBe("EOP_ERR_TARGET_NOT_FOUND");
    expect(failed.lastError?.message).toContain(`cgroup /${name.slice(0, -1)} does not exist`);
    expect(failed.lastError?.message).toContain(`did you mean /${name}`);
  });
});
