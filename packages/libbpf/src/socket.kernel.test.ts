/**
 * PacketSocket on the real kernel: a veth pair whose far end lives in a network namespace made
 * here, a socket filter on the near end, UDP from the far end. Removed afterwards, pass or fail.
 */
import { execFileSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileFixture, makeTempDir, requireKernel, u32Key, u64 } from "./kernel-test-support.js";
import { BpfObject, ClosedError, LibbpfError, PacketSocket, type BpfMap } from "./index.js";

requireKernel();

const C_SOCKET = 4; // slot of count_socket in counters.bpf.c

const tag = `${process.pid % 100000}`;
const netns = `ebpf-libbpf-sock-${tag}`;
const hostIf = `ebs${tag}a`;
const peerIf = `ebs${tag}b`;
const octet = (process.pid % 250) + 1;
const hostAddress = `10.252.${octet}.1`;

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: "pipe" });
}

function cleanupNetwork(): void {
  for (const args of [
    ["link", "del", hostIf],
    ["netns", "del", netns],
  ]) {
    try {
      run("ip", args);
    } catch {
      // not created
    }
  }
}

/** Sends `n` UDP datagrams from the namespace to the host end and waits until all arrived. */
async function sendFromNamespace(receiver: Socket, n: number): Promise<void> {
  let got = 0;
  const arrived = new Promise<void>((resolve) => {
    const onMessage = () => {
      if (++got === n) {
        receiver.off("message", onMessage);
        resolve();
      }
    };
    receiver.on("message", onMessage);
  });
  const port = receiver.address().port;
  const script = `const s=require("dgram").createSocket("udp4");let i=0;const f=()=>s.send("x",${port},"${hostAddress}",()=>{if(++i<${n})f();else s.close()});f();`;
  run("ip", ["netns", "exec", netns, process.execPath, "-e", script]);
  await arrived;
}

describe("PacketSocket", () => {
  const tmp = makeTempDir();
  let obj: BpfObject;
  let counters: BpfMap;
  let receiver: Socket;
  let ifindex: number;
  const count = (): bigint => u64(counters.lookup(u32Key(C_SOCKET)));

  beforeAll(async () => {
    cleanupNetwork();
    run("ip", ["netns", "add", netns]);
    run("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", peerIf, "netns", netns]);
    // No IPv6 on the test veths: no neighbour discovery packets in the counts.
    run("sysctl", ["-q", "-w", `net.ipv6.conf.${hostIf}.disable_ipv6=1`]);
    run("ip", ["netns", "exec", netns, "sysctl", "-q", "-w", `net.ipv6.conf.${peerIf}.disable_ipv6=1`]);
    run("ip", ["addr", "add", `${hostAddress}/30`, "dev", hostIf]);
    run("ip", ["link", "set", hostIf, "up"]);
    run("ip", ["-n", netns, "addr", "add", `10.252.${octet}.2/30`, "dev", peerIf]);
    run("ip", ["-n", netns, "link", "set", peerIf, "up"]);
    ifindex = Number(readFileSync(`/sys/class/net/${hostIf}/ifindex`, "utf8"));
    receiver = createSocket("udp4");
    await new Promise<void>((resolve) => receiver.bind(0, hostAddress, resolve));
    obj = BpfObject.open({ path: compileFixture("counters", tmp.dir) });
    obj.load();
    counters = obj.map("counters");
  });

  afterAll(() => {
    receiver?.close();
    counters?.close();
    obj?.close();
    cleanupNetwork();
    tmp.remove();
  });

  it("runs an attached filter on exactly the IPv4 packets the interface receives", async () => {
    using prog = obj.program("count_socket");
    using socket = PacketSocket.open(ifindex, { protocol: 0x0800 });
    prog.attachSocketFilter(socket.fd);
    const before = count();
    await sendFromNamespace(receiver, 5);
    expect(count() - before).toBe(5n);
  });

  it("stops filtering once the socket is closed", async () => {
    const prog = obj.program("count_socket");
    const socket = PacketSocket.open(ifindex);
    prog.attachSocketFilter(socket.fd);
    prog.close();
    await sendFromNamespace(receiver, 2);
    socket.close();
    socket.close();
    const before = count();
    await sendFromNamespace(receiver, 3);
    expect(count()).toBe(before);
    expect(() => socket.fd).toThrow(ClosedError);
  });

  it("refuses an interface that does not exist with the errno", () => {
    expect(() => PacketSocket.open(0x7ffffff0)).toThrow(LibbpfError);
    expect(() => PacketSocket.open(0x7ffffff0)).toThrow(/bind\(AF_PACKET, ifindex 2147483632\).*ENODEV/);
  });

  it("checks its arguments before calling the kernel", () => {
    expect(() => PacketSocket.open(-1)).toThrow(RangeError);
    expect(() => PacketSocket.open(1, { protocol: 0x10000 })).toThrow(RangeError);
  });
});
