/**
 * For kernel tests only (not exported): a network namespace and a veth pair made for one test —
 * the host end in the agent's namespace, the peer end inside the test's namespace — and UDP
 * sent from inside it to a listener on the host end. Nothing touches the machine's own
 * interfaces; `remove()` deletes both, and is safe to call when creation failed half-way.
 */
import { execFileSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { readFileSync } from "node:fs";

export interface TestNetwork {
  netns: string;
  /** The veth end in the agent's (this process's) namespace. */
  hostIf: string;
  hostAddress: string;
  peerAddress: string;
  hostIfindex(): number;
  /**
   * Sends `count` UDP datagrams of `payloadBytes` bytes from inside the namespace to a listener
   * on the host end, and resolves once all have arrived (so every hook on the way has run).
   */
  sendUdp(count: number, payloadBytes: number): Promise<{ port: number }>;
  remove(): Promise<void>;
}

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: "pipe" });
}

/** `label` (a letter or two) keeps names of concurrent test files apart; names stay within 15 characters. */
export async function createTestNetwork(label: string, subnet: number): Promise<TestNetwork> {
  const tag = `${label}${process.pid % 100000}`;
  const netns = `eop-test-${tag}`;
  const hostIf = `eop${tag}a`;
  const peerIf = `eop${tag}b`;
  const octet = (process.pid % 250) + 1;
  const hostAddress = `10.${subnet}.${octet}.1`;
  const peerAddress = `10.${subnet}.${octet}.2`;
  let listener: Socket | undefined;

  const remove = async (): Promise<void> => {
    if (listener) await new Promise<void>((resolve) => listener!.close(() => resolve()));
    listener = undefined;
    for (const args of [
      ["link", "del", hostIf],
      ["netns", "del", netns],
    ]) {
      try {
        run("ip", args);
      } catch {
        // never created, or already gone with the namespace
      }
    }
  };

  try {
    await remove(); // leftovers of a killed run with the same pid
    run("ip", ["netns", "add", netns]);
    run("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", peerIf, "netns", netns]);
    // No IPv6 on the test veths: no neighbour discovery or router solicitations in the counts.
    run("sysctl", ["-q", "-w", `net.ipv6.conf.${hostIf}.disable_ipv6=1`]);
    run("ip", ["netns", "exec", netns, "sysctl", "-q", "-w", `net.ipv6.conf.${peerIf}.disable_ipv6=1`]);
    run("ip", ["addr", "add", `${hostAddress}/30`, "dev", hostIf]);
    run("ip", ["link", "set", hostIf, "up"]);
    run("ip", ["-n", netns, "addr", "add", `${peerAddress}/30`, "dev", peerIf]);
    run("ip", ["-n", netns, "link", "set", peerIf, "up"]);
    listener = createSocket("udp4");
    await new Promise<void>((resolve) => listener!.bind(0, hostAddress, resolve));
  } catch (error) {
    await remove();
    throw error;
  }

  return {
    netns,
    hostIf,
    hostAddress,
    peerAddress,
    hostIfindex: () => Number(readFileSync(`/sys/class/net/${hostIf}/ifindex`, "utf8")),
    async sendUdp(count, payloadBytes) {
      const socket = listener!;
      const port = socket.address().port;
      let got = 0;
      let onMessage: () => void = () => undefined;
      const arrived = new Promise<void>((resolve) => {
        onMessage = () => {
          if (++got === count) resolve();
        };
        socket.on("message", onMessage);
      });
      const script =
        `const s=require("dgram").createSocket("udp4");const b=Buffer.alloc(${payloadBytes},120);let i=0;` +
        `const f=()=>s.send(b,${port},"${hostAddress}",(e)=>{if(e)throw e;if(++i<${count})f();else s.close()});f();`;
      try {
        run("ip", ["netns", "exec", netns, process.execPath, "-e", script]);
        await Promise.race([arrived, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${got} of ${count} datagrams arrived`)), 10_000))]);
      } finally {
        socket.off("message", onMessage);
      }
      return { port };
    },
    remove,
  };
}
