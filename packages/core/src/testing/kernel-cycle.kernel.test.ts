/**
 * The conformance suite's kernel cycle against the real kernel, with two tiny inline plugins:
 * one whose attachment is a pinnable link (a tracepoint), one whose attachment is a handle (a
 * socket filter on lo, attached again on adoption) — and a broken one the cycle must reject.
 */
import { execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { describe, expect, it } from "vitest";
import { PacketSocket, probeProgramType } from "@ebpf-operator/libbpf";
import { definePlugin, type ProgramTypePlugin } from "../plugin/sdk.js";
import { runKernelCycle, type KernelCycleOptions } from "./kernel-cycle.js";

const base = {
  meta: { name: "cycle-test", version: "0.0.0", apiVersion: 1, programTypes: ["cycle"] },
  targetSchema: { type: "string" },
  parseTarget: (_type: string, target: string) => target,
  detectSupport: async () => ({ supported: true as const }),
};

const tracepointPlugin = definePlugin<string>({
  ...base,
  prepare: ({ object, programName }) => object.setProgramType(programName, "tracepoint"),
  attach: async ({ program, target }) => {
    const [category, name] = target.split("/");
    return [{ kind: "link", link: program.attachTracepoint(category!, name!), description: `tracepoint ${target}` }];
  },
});

const socketPlugin = definePlugin<string>({
  ...base,
  prepare: ({ object, programName }) => object.setProgramType(programName, "socket_filter"),
  attach: async ({ program }) => {
    const socket = PacketSocket.open(1); // lo
    program.attachSocketFilter(socket.fd);
    return [{ kind: "handle", description: `socket filter on lo (fd ${socket.fd})`, close: () => socket.close() }];
  },
});

const COUNTER = (section: string, ctx: string) => `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, u32); __type(value, u64); } hits SEC(".maps");
SEC("${section}") int count(${ctx} *ctx) {
  u32 key = 0;
  u64 *n = bpf_map_lookup_elem(&hits, &key);
  if (n) __sync_fetch_and_add(n, 1);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`;

const hits = (loaded: Parameters<NonNullable<KernelCycleOptions["exercise"]>>[0]) => loaded.maps.get("hits")!.lookup(Buffer.alloc(4))!.readBigUInt64LE(0);

/** Sends `count` datagrams to a listener on 127.0.0.1 and waits until they arrived. */
async function sendUdpOnLo(count: number): Promise<void> {
  const receiver = createSocket("udp4");
  const sender = createSocket("udp4");
  try {
    await new Promise<void>((resolve) => receiver.bind(0, "127.0.0.1", resolve));
    let got = 0;
    const arrived = new Promise<void>((resolve) => receiver.on("message", () => ++got === count && resolve()));
    for (let i = 0; i < count; i++) sender.send("x", receiver.address().port, "127.0.0.1");
    await arrived;
  } finally {
    receiver.close();
    sender.close();
  }
}

describe("runKernelCycle", () => {
  it("loads, adopts from the pinned link and unloads a link-attached program", async () => {
    const seen: bigint[] = [];
    const report = await runKernelCycle(tracepointPlugin, {
      type: "cycle",
      target: "syscalls/sys_enter_getppid",
      code: COUNTER("tracepoint", "void"),
      program: "count",
      map: "hits",
      exercise: (loaded) => {
        const before = hits(loaded);
        for (let i = 0; i < 5; i++) execFileSync("/bin/sh", ["-c", "echo $PPID"]);
        seen.push(hits(loaded) - before);
      },
    });
    expect(report.attachmentKinds).toEqual(["link"]);
    expect(report.fresh).toEqual(["tracepoint syscalls/sys_enter_getppid"]);
    expect(report.adopted).toEqual(["pinned link_0"]); // reopened from its pin, not attached again
    for (const n of seen) expect(n).toBeGreaterThanOrEqual(5n);
  });

  it.runIf(probeProgramType("socket_filter"))("attaches a handle again on adoption, keeping the maps", async () => {
    const counts: bigint[] = [];
    const report = await runKernelCycle(socketPlugin, {
      type: "cycle",
      target: "lo",
      code: COUNTER("socket", "struct __sk_buff"),
      program: "count",
      map: "hits",
      exercise: async (loaded) => {
        await sendUdpOnLo(3);
        counts.push(hits(loaded));
      },
    });
    expect(report.attachmentKinds).toEqual(["handle"]);
    expect(report.adopted).toEqual([expect.stringMatching(/^socket filter on lo/)]);
    expect(counts[0]).toBeGreaterThan(0n);
    expect(counts[1]).toBeGreaterThan(counts[0]!); // the same map, counting on
  });

  it("asks a plugin's adopted() about the reopened links with the target, and keeps them when it accepts", async () => {
    const asked: { types: string[]; target: string }[] = [];
    const checking: ProgramTypePlugin<string> = {
      ...tracepointPlugin,
      adopted: ({ links, target }) => {
        asked.push({ types: links.map((l) => l.info().type), target });
        return true;
      },
    };
    const report = await runKernelCycle(checking, {
      type: "cycle",
      target: "syscalls/sys_enter_getppid",
      code: COUNTER("tracepoint", "void"),
      program: "count",
      map: "hits",
    });
    expect(asked).toEqual([{ types: ["perf_event"], target: "syscalls/sys_enter_getppid" }]);
    expect(report.adopted).toEqual(["pinned link_0"]);
  });

  it("fails a plugin whose adopted() refuses the links its own attach() made (nothing changed), and leaves no pins", async () => {
    const refusing: ProgramTypePlugin<string> = { ...tracepointPlugin, adopted: () => false };
    await expect(
      runKernelCycle(refusing, { type: "cycle", target: "syscalls/sys_enter_getppid", code: COUNTER("tracepoint", "void"), program: "count", map: "hits" }),
    ).rejects.toThrow(
      /adoption attached the program again \(tracepoint syscalls\/sys_enter_getppid \(link \d+\)\) instead of keeping the links its attach\(\) made/,
    );
    expect(execFileSync("ls", ["/sys/fs/bpf"], { encoding: "utf8" })).not.toContain(`eop-conformance-${process.pid}-`);
  });

  it("fails a plugin whose attach produces nothing, naming the step, and leaves no pins", async () => {
    const broken: ProgramTypePlugin<string> = { ...tracepointPlugin, attach: async () => [] };
    await expect(
      runKernelCycle(broken, { type: "cycle", target: "syscalls/sys_enter_getppid", code: COUNTER("tracepoint", "void"), program: "count", map: "hits" }),
    ).rejects.toThrow("attach() produced no attachment: the program would not run");
    expect(execFileSync("ls", ["/sys/fs/bpf"], { encoding: "utf8" })).not.toContain(`eop-conformance-${process.pid}-`);
  });
});
