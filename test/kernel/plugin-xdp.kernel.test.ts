/**
 * examples/xdp-packets.yaml end to end on the real kernel: the built agent attaches it to the
 * host end of a veth pair made here (the example's `lo` rewritten), UDP comes in from the
 * test's own network namespace, and /metrics must show exactly that many UDP packets, labelled
 * `protocol="udp"` by the uint -> ip_proto decoder chain.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestNetwork, type TestNetwork } from "../../packages/plugin-xdp/src/kernel-test-network.js";
import { createWorkspace, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { example } from "../helpers/manifests.js";
import { fetchStatus, fetchText, sampleValue } from "../helpers/metrics.js";

requireKernelCapabilities();

/** The XDP programs bpftool sees on an interface. */
function xdpPrograms(ifname: string): { id: number; mode: string }[] {
  const [dev] = JSON.parse(execFileSync("bpftool", ["net", "show", "dev", ifname, "-j"], { encoding: "utf8" })) as { xdp: { id: number; mode: string }[] }[];
  return dev?.xdp ?? [];
}

describe("xdp plugin with examples/xdp-packets.yaml", () => {
  let network: TestNetwork;
  let workspace: AgentWorkspace;
  let agent: AgentProcess;
  const file = () => join(workspace.configDir, "xdp-packets.yaml");
  const labels = { namespace: "default", ebpfmap: "xdp-packets", protocol: "udp" };
  const status = async () => (await fetchStatus(agent.url)).resources.find((r) => r.name === "xdp-packets");
  const udpPackets = async () => sampleValue((await fetchText(`${agent.url}/metrics`)).body, "xdp_packets_total", labels);

  beforeAll(async () => {
    network = await createTestNetwork("x", 253);
    workspace = createWorkspace("plugin-xdp");
    mkdirSync(workspace.configDir, { recursive: true });
    writeFileSync(file(), example("xdp-packets.yaml").replace(/^ {2}target: .*$/m, `  target: xdp/${network.hostIf}`));
    agent = await startAgent(workspace);
  });

  afterAll(async () => {
    try {
      await agent?.stop();
    } finally {
      workspace?.cleanup(); // removing the pins detaches whatever is left
      await network?.remove();
    }
  });

  it("runs the example on the veth, in native mode (veth drivers have XDP)", async () => {
    const running = await waitFor("xdp-packets to be Running", async () => {
      const s = await status();
      if (s?.phase === "Failed" || s?.phase === "Unsupported") throw new Error(JSON.stringify(s.lastError));
      return s?.phase === "Running" ? s : undefined;
    });
    expect(running.program!.attachments).toEqual([
      expect.stringMatching(new RegExp(`^xdp ${network.hostIf} \\(ifindex ${network.hostIfindex()}, native mode\\)$`)),
    ]);
    expect(xdpPrograms(network.hostIf)).toEqual([expect.objectContaining({ id: running.program!.id })]);
  });

  it("counts exactly the UDP packets sent to the interface", async () => {
    const before = (await udpPackets()) ?? 0;
    await network.sendUdp(25, 64);
    expect((await udpPackets())! - before).toBe(25);
    await network.sendUdp(7, 1);
    expect((await udpPackets())! - before).toBe(32);
  });

  it("detaches from the interface when the file is deleted", async () => {
    const { id } = (await status())!.program!;
    rmSync(file());
    await waitFor("the resource to go", async () => ((await status()) ? undefined : true));
    expect(xdpPrograms(network.hostIf)).toEqual([]);
    expect(await udpPackets()).toBeUndefined();
    expect(id).toBeGreaterThan(0);
  });

  it("attaches in generic mode to the interfaces a glob matches, when the target asks", async () => {
    const glob = `${network.hostIf.slice(0, -1)}*`;
    writeFileSync(file(), example("xdp-packets.yaml").replace(/^ {2}target: .*$/m, `  target: ${glob}?mode=generic`));
    const running = await waitFor("xdp-packets to be Running again", async () => {
      const s = await status();
      return s?.phase === "Running" ? s : undefined;
    });
    expect(running.program!.attachments).toEqual([`xdp ${network.hostIf} (ifindex ${network.hostIfindex()}, generic mode)`]);
    expect(xdpPrograms(network.hostIf)).toEqual([expect.objectContaining({ id: running.program!.id, mode: "generic" })]);
    await network.sendUdp(9, 200);
    expect(await udpPackets()).toBe(9);
    rmSync(file());
    await waitFor("the resource to go", async () => ((await status()) ? undefined : true));
    expect(xdpPrograms(network.hostIf)).toEqual([]);
  });

  it("after a restart, moves a pinned link whose interface name now belongs to another device to that device: same program, counters kept", async () => {
    const other = await createTestNetwork("y", 247);
    const name = `eopm${process.pid % 100000}`;
    const moved = join(workspace.configDir, "moved.yaml");
    const movedLabels = { ...labels, ebpfmap: "xdp-moved" };
    const movedPackets = async () => sampleValue((await fetchText(`${agent.url}/metrics`)).body, "xdp_packets_total", movedLabels);
    const movedStatus = async () => (await fetchStatus(agent.url)).resources.find((r) => r.name === "xdp-moved");
    const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });
    const rename = (from: string, to: string) => {
      ip("link", "set", from, "down");
      ip("link", "set", from, "name", to);
      ip("link", "set", to, "up");
    };
    const first = { ifindex: network.hostIfindex(), name: network.hostIf };
    const second = { ifindex: other.hostIfindex(), name: other.hostIf };
    try {
      rename(first.name, name);
      writeFileSync(
        moved,
        example("xdp-packets.yaml")
          .replace(/^ {2}target: .*$/m, `  target: xdp/${name}?mode=generic`)
          .replace("name: xdp-packets\nspec", "name: xdp-moved\nspec"),
      );
      const running = await waitFor("xdp-moved to be Running", async () => {
        const s = await movedStatus();
        return s?.phase === "Running" ? s : undefined;
      });
      expect(running.program!.attachments).toEqual([`xdp ${name} (ifindex ${first.ifindex}, generic mode)`]);
      await network.sendUdp(3, 8);
      expect(await movedPackets()).toBe(3);
      await agent.stop("SIGKILL");
      // While no agent runs, the name moves to another device (what a CNI or an operator can do).
      rename(name, first.name);
      rename(second.name, name);
      expect(xdpPrograms(first.name)).toEqual([expect.objectContaining({ id: running.program!.id })]); // pinned: still on the old device
      agent = await startAgent(workspace);
      const adopted = await waitFor("xdp-moved adopted", async () => {
        const s = await movedStatus();
        return s?.phase === "Running" ? s : undefined;
      });
      expect(adopted.program).toMatchObject({ adopted: true, id: running.program!.id });
      expect(adopted.program!.attachments).toEqual([`xdp ${name} (ifindex ${second.ifindex}, generic mode)`]);
      expect(xdpPrograms(name)).toEqual([expect.objectContaining({ id: running.program!.id, mode: "generic" })]);
      expect(xdpPrograms(first.name)).toEqual([]);
      await other.sendUdp(5, 8);
      await network.sendUdp(4, 8); // the old device: no longer counted
      expect(await movedPackets()).toBe(8);
      // Pinned where it is now: a second restart keeps it there.
      await agent.stop("SIGKILL");
      agent = await startAgent(workspace);
      await waitFor("xdp-moved adopted again", async () => ((await movedStatus())?.phase === "Running" ? true : undefined));
      expect(xdpPrograms(name)).toEqual([expect.objectContaining({ id: running.program!.id })]);
      rmSync(moved);
      await waitFor("xdp-moved to go", async () => ((await movedStatus()) ? undefined : true));
      expect(xdpPrograms(name)).toEqual([]);
    } finally {
      rmSync(moved, { force: true });
      // The devices get their own names back (by ifindex), whatever step failed.
      const names = new Map(
        (JSON.parse(execFileSync("ip", ["-j", "link", "show"], { encoding: "utf8" })) as { ifindex: number; ifname: string }[]).map((l) => [
          l.ifindex,
          l.ifname,
        ]),
      );
      for (const device of [first, second]) {
        const now = names.get(device.ifindex);
        if (now !== undefined && now !== device.name) rename(now, device.name);
      }
      await other.remove();
    }
  });

  it("reports a missing interface with the closest names", async () => {
    const missing = `${network.hostIf.slice(0, -1)}z`;
    writeFileSync(
      join(workspace.configDir, "missing.yaml"),
      example("xdp-packets.yaml")
        .replace(/^ {2}target: .*$/m, `  target: ${missing}?mode=generic`)
        .replace("name: xdp-packets\nspec", "name: xdp-missing\nspec"),
    );
    const failed = await waitFor("xdp-missing to fail", async () => {
      const s = (await fetchStatus(agent.url)).resources.find((r) => r.name === "xdp-missing");
      return s?.phase === "Failed" ? s : undefined;
    });
    expect(failed.lastError?.code).toBe("EOP_ERR_TARGET_NOT_FOUND");
    expect(failed.lastError?.message).toContain(`interface "${missing}" does not exist`);
    expect(failed.lastError?.message).toContain(network.hostIf);
  });
});
