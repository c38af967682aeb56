/**
 * Work inside another network namespace on the real kernel: a namespace made here with a veth
 * pair (its end `eth0` inside) and a veth pair made inside it; the namespace's devices listed, an XDP link and a
 * packet socket made inside it from its fd. Removed afterwards, pass or fail.
 */
import { execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { closeSync, openSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileFixture, makeTempDir, requireKernel, sleep, u32Key, u64 } from "./kernel-test-support.js";
import { BpfObject, BpfProgram, LibbpfError, PacketSocket, netnsLinks, xdpProgramIds, type BpfMap } from "./index.js";

requireKernel();

const C_XDP = 2; // slot of count_xdp in counters.bpf.c

const tag = `${process.pid % 100000}`;
const netns = `ebpf-libbpf-ns-${tag}`;
const hostIf = `ebn${tag}a`;
const octet = (process.pid % 250) + 1;
const peerAddress = `10.249.${octet}.2`;

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: "pipe" });
}

function cleanup(): void {
  for (const args of [
    ["link", "del", hostIf],
    ["netns", "del", netns],
  ]) {
    try {
      ip(...args);
    } catch {
      // not created
    }
  }
}

const xdpProgramOn = (ifname: string, inside: boolean): number | undefined => {
  const [link] = JSON.parse(ip(...(inside ? ["-n", netns] : []), "-j", "-d", "link", "show", "dev", ifname)) as { xdp?: { prog?: { id: number } } }[];
  return link?.xdp?.prog?.id;
};

describe("network namespaces (netnsFd)", () => {
  const tmp = makeTempDir();
  let obj: BpfObject;
  let counters: BpfMap;
  let nsFd: number;

  beforeAll(() => {
    cleanup();
    ip("netns", "add", netns);
    ip("link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", netns);
    execFileSync("sysctl", ["-q", "-w", `net.ipv6.conf.${hostIf}.disable_ipv6=1`]);
    ip("addr", "add", `10.249.${octet}.1/30`, "dev", hostIf);
    ip("link", "set", hostIf, "up");
    ip("-n", netns, "addr", "add", `${peerAddress}/30`, "dev", "eth0");
    ip("-n", netns, "link", "set", "eth0", "up");
    ip("-n", netns, "link", "add", "in0", "type", "veth", "peer", "name", "in1");
    nsFd = openSync(`/run/netns/${netns}`, "r");
    obj = BpfObject.open({ path: compileFixture("counters", tmp.dir) });
    obj.load();
    counters = obj.map("counters");
  });

  afterAll(() => {
    if (nsFd !== undefined) closeSync(nsFd);
    counters?.close();
    obj?.close();
    cleanup();
    tmp.remove();
  });

  it("lists the namespace's own devices, with whether each has a link to another namespace", () => {
    const links = netnsLinks(nsFd);
    const byName = new Map(links.map((l) => [l.name, l]));
    expect([...byName.keys()].sort()).toEqual(expect.arrayContaining(["eth0", "in0", "in1", "lo"]));
    const eth0Index = (JSON.parse(ip("-n", netns, "-j", "link", "show", "dev", "eth0")) as { ifindex: number }[])[0]!.ifindex;
    expect(byName.get("eth0")).toMatchObject({ ifindex: eth0Index, loopback: false, up: true, kind: "veth" });
    expect(byName.get("eth0")!.linkNetnsid).toBeGreaterThanOrEqual(0);
    expect(byName.get("lo")).toMatchObject({ loopback: true, linkNetnsid: -1 });
    // A pair made inside the namespace has nothing outside it.
    expect(byName.get("in0")).toMatchObject({ kind: "veth", linkNetnsid: -1 });
    expect(byName.get("in1")).toMatchObject({ kind: "veth", linkNetnsid: -1 });
    // Not this process's devices: its own veth end is not among them.
    expect(byName.has(hostIf)).toBe(false);
  });

  it("attaches XDP to a device of the namespace, not of the caller's, and it runs there", async () => {
    const eth0 = netnsLinks(nsFd).find((l) => l.name === "eth0")!;
    using prog = obj.program("count_xdp");
    using link = prog.attachXdp(eth0.ifindex, { mode: "generic", netnsFd: nsFd });
    expect(xdpProgramOn("eth0", true)).toBe(prog.info().id);
    expect(xdpProgramOn(hostIf, false)).toBeUndefined();
    const before = u64(counters.lookup(u32Key(C_XDP)));
    const socket = createSocket("udp4");
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve, reject) => socket.send("x", 9, peerAddress, (e) => (e ? reject(e) : resolve())));
    socket.close();
    await sleep(200);
    expect(u64(counters.lookup(u32Key(C_XDP))) - before).toBeGreaterThanOrEqual(5n);
    link.detach();
    expect(xdpProgramOn("eth0", true)).toBeUndefined();
  });

  it("says which device an XDP link is on: its ifindex, and the program ids the namespace's device has", () => {
    const eth0 = netnsLinks(nsFd).find((l) => l.name === "eth0")!;
    const hostIndex = (JSON.parse(ip("-j", "link", "show", "dev", hostIf)) as { ifindex: number }[])[0]!.ifindex;
    using prog = obj.program("count_xdp");
    expect(xdpProgramIds(eth0.ifindex, nsFd)).toEqual([]);
    using link = prog.attachXdp(eth0.ifindex, { mode: "generic", netnsFd: nsFd });
    expect(link.info()).toMatchObject({ type: "xdp", programId: prog.info().id, ifindex: eth0.ifindex });
    expect(xdpProgramIds(eth0.ifindex, nsFd)).toEqual([prog.info().id]);
    // The caller's own namespace: its device of that index (if any) does not have it.
    expect(xdpProgramIds(eth0.ifindex)).not.toContain(prog.info().id);
    expect(xdpProgramIds(hostIndex)).toEqual([]);
    // The program the link runs, opened by its id (what adoption reads a pinned link's program with).
    using byId = BpfProgram.fromId(link.info().programId);
    expect(byId.info()).toMatchObject({ id: prog.info().id, tag: prog.info().tag });
    link.detach();
    expect(link.info().ifindex).toBe(0);
    expect(xdpProgramIds(eth0.ifindex, nsFd)).toEqual([]);
    // No such device: nothing attached there, not an error.
    expect(xdpProgramIds(0x7ffffff0, nsFd)).toEqual([]);
  });

  it("binds a packet socket in the namespace", () => {
    const eth0 = netnsLinks(nsFd).find((l) => l.name === "eth0")!;
    using socket = PacketSocket.open(eth0.ifindex, { netnsFd: nsFd });
    const rows = ip("netns", "exec", netns, "cat", "/proc/net/packet").trim().split("\n").slice(1);
    expect(rows.map((r) => Number(r.trim().split(/\s+/)[4]))).toEqual([eth0.ifindex]);
    expect(socket.fd).toBeGreaterThan(0);
  });

  it("refuses an fd that is not a network namespace with the errno", () => {
    const fd = openSync("/dev/null", "r");
    try {
      expect(() => netnsLinks(fd)).toThrow(LibbpfError);
      expect(() => netnsLinks(fd)).toThrow(/setns\(CLONE_NEWNET\).*EINVAL/);
    } finally {
      closeSync(fd);
    }
    expect(() => netnsLinks(-1)).toThrow(RangeError);
  });
});
