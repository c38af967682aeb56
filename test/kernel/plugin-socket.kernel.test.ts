/**
 * examples/socket-bytes.yaml end to end on the real kernel: the built agent opens an AF_PACKET
 * socket on the host end of a veth pair made here (the example's `lo` rewritten) and attaches
 * the filter; UDP comes in from the test's own network namespace, and /metrics must show
 * exactly its bytes under `protocol="udp"` (uint -> ip_proto, a decoder of plugin-xdp). The
 * attachment is a socket, not a pinnable link: a restarted agent must attach the pinned
 * program to a new socket.
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

/** A UDP datagram as the filter sees it: Ethernet 14 + IPv4 20 + UDP 8 + payload. */
const frameBytes = (payload: number) => 14 + 20 + 8 + payload;

function programExists(id: number): boolean {
  return (JSON.parse(execFileSync("bpftool", ["prog", "list", "-j"], { encoding: "utf8" })) as { id: number }[]).some((p) => p.id === id);
}

describe("socket plugin with examples/socket-bytes.yaml", () => {
  let network: TestNetwork;
  let workspace: AgentWorkspace;
  let agent: AgentProcess | undefined;
  const file = () => join(workspace.configDir, "socket-bytes.yaml");
  const labels = { namespace: "default", ebpfmap: "socket-bytes", protocol: "udp" };
  const status = async () => (await fetchStatus(agent!.url)).resources.find((r) => r.name === "socket-bytes");
  const running = () =>
    waitFor("socket-bytes to be Running", async () => {
      const s = await status();
      if (s?.phase === "Failed" || s?.phase === "Unsupported") throw new Error(JSON.stringify(s.lastError));
      return s?.phase === "Running" ? s : undefined;
    });
  const udpBytes = async () => sampleValue((await fetchText(`${agent!.url}/metrics`)).body, "socket_ip_bytes_total", labels);

  beforeAll(async () => {
    network = await createTestNetwork("s", 254);
    workspace = createWorkspace("plugin-socket");
    mkdirSync(workspace.configDir, { recursive: true });
    writeFileSync(file(), example("socket-bytes.yaml").replace(/^ {2}target: .*$/m, `  target: sockfilter/${network.hostIf}`));
    agent = await startAgent(workspace);
  });

  afterAll(async () => {
    try {
      await agent?.stop("SIGKILL");
    } finally {
      workspace?.cleanup();
      await network?.remove();
    }
  });

  it("runs the example on a packet socket bound to the veth", async () => {
    const s = await running();
    expect(s.program!.attachments).toEqual([
      expect.stringMatching(new RegExp(`^socket filter on ${network.hostIf} \\(ifindex ${network.hostIfindex()}, AF_PACKET fd \\d+\\)$`)),
    ]);
    expect(s.program!.pinDir).toBeTruthy();
  });

  it("counts exactly the bytes of the UDP packets the interface receives", async () => {
    await network.sendUdp(10, 100);
    expect(await udpBytes()).toBe(10 * frameBytes(100));
    await network.sendUdp(3, 1000);
    expect(await udpBytes()).toBe(10 * frameBytes(100) + 3 * frameBytes(1000));
  });

  it("attaches the pinned program to a new socket after kill -9, keeping the count", async () => {
    const before = (await running()).program!;
    const counted = (await udpBytes())!;
    await agent!.stop("SIGKILL");
    // No agent, no socket: nothing counts these.
    await network.sendUdp(4, 10);
    agent = await startAgent(workspace);
    const after = (await running()).program!;
    expect(after.adopted).toBe(true);
    expect(after.id).toBe(before.id);
    expect(await udpBytes()).toBe(counted);
    await network.sendUdp(5, 50);
    expect(await udpBytes()).toBe(counted + 5 * frameBytes(50));
  });

  it("closes the socket and frees the program when the file is deleted", async () => {
    const { id } = (await running()).program!;
    rmSync(file());
    await waitFor("the resource to go", async () => ((await status()) ? undefined : true));
    expect(await udpBytes()).toBeUndefined();
    expect(await waitFor(`program ${id} to be freed`, async () => (programExists(id) ? undefined : true), 10_000)).toBe(true);
  });
});
