import { execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";
import type { Socket } from "node:dgram";
import { existsSync, mkdirSync, readFileSync, rmdirSync } from "node:fs";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { compileFixture, compileProgram, makePinDir, makeTempDir, requireKernel, sleep, spawnTrue, u32Key, u64 } from "./kernel-test-support.js";
import { BpfObject, BpfProgram, ClosedError, enableStats, LibbpfError, probeMapType, probeProgramType } from "./index.js";
import type { BpfMap } from "./index.js";

requireKernel();

// Slots of the `counters` array in counters.bpf.c.
const C_EXECVE = 0;
const C_RAW_TP = 1;
const C_XDP = 2;
const C_CGROUP_EGRESS = 3;
const C_SOCKET = 4;
const C_UPROBE = 5;

/** The UDP socket's fd. Node keeps it private; tests only. */
function socketFd(sock: Socket): number {
  return (sock as unknown as { _handle: { fd: number } })._handle.fd;
}

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: "pipe" });
}

function tryRun(cmd: string, args: string[]): void {
  try {
    run(cmd, args);
  } catch {
    // cleanup of something that may not exist
  }
}

describe("BpfProgram", () => {
  const tmp = makeTempDir();
  let obj: BpfObject;
  let counters: BpfMap;
  const count = (slot: number): bigint => u64(counters.lookup(u32Key(slot)));

  beforeAll(() => {
    obj = BpfObject.open({ path: compileFixture("counters", tmp.dir) });
    obj.load();
    counters = obj.map("counters");
  });

  afterAll(() => {
    counters?.close();
    obj?.close();
    tmp.remove();
  });

  it("reports its kernel info", () => {
    using prog = obj.program("count_execve");
    const info = prog.info();
    expect(info.name).toBe("count_execve");
    expect(info.type).toBe("tracepoint");
    expect(info.tag).toMatch(/^[0-9a-f]{16}$/);
    expect(info.mapIds).toEqual([counters.info.id]);
    expect(info.btfId).toBeGreaterThan(0);
    expect(typeof info.runCount).toBe("bigint");
  });

  it("counts execve calls from a tracepoint", () => {
    using prog = obj.program("count_execve");
    const before = count(C_EXECVE);
    {
      using link = prog.attachTracepoint("syscalls", "sys_enter_execve");
      expect(link.info().type).toBe("perf_event");
      expect(link.info().programId).toBe(prog.info().id);
      spawnTrue(5);
    }
    expect(count(C_EXECVE) - before).toBeGreaterThanOrEqual(5n);
  });

  it("counts runs and run time while stats are enabled", () => {
    using prog = obj.program("count_execve");
    using _link = prog.attachTracepoint("syscalls", "sys_enter_execve");
    const before = prog.info();
    {
      using _stats = enableStats();
      spawnTrue(5);
    }
    const after = prog.info();
    expect(after.runCount - before.runCount).toBeGreaterThanOrEqual(5n);
    expect(after.runTimeNs).toBeGreaterThan(before.runTimeNs);
  });

  it("attaches to a raw tracepoint", async () => {
    using prog = obj.program("count_raw_tp");
    const before = count(C_RAW_TP);
    using link = prog.attachRawTracepoint("sys_enter");
    expect(link.info().type).toBe("raw_tracepoint");
    await sleep(10);
    spawnTrue(1);
    expect(count(C_RAW_TP)).toBeGreaterThan(before);
  });

  it("fails to attach a kprobe on a kernel without kprobes with a clean LibbpfError", () => {
    using prog = obj.program("count_kprobe");
    let err: unknown;
    try {
      prog.attachKprobe("do_nanosleep").close();
    } catch (e) {
      err = e;
    }
    if (existsSync("/sys/bus/event_source/devices/kprobe")) {
      // A kernel with kprobes attaches fine.
      expect(err).toBeUndefined();
      return;
    }
    expect(err).toBeInstanceOf(LibbpfError);
    expect(["ENOENT", "EOPNOTSUPP", "ENOTSUPP", "EINVAL"]).toContain((err as LibbpfError).code);
    expect((err as LibbpfError).message).toMatch(/kprobe/);
  });

  it("counts calls of a user-space function through a uprobe", () => {
    const target = compileProgram("uprobe_target", tmp.dir);
    using prog = obj.program("count_uprobe");
    const before = count(C_UPROBE);
    {
      using link = prog.attachUprobe(target, { symbol: "ebpf_test_tick" });
      expect(link.info().type).toBe("perf_event");
      run(target, ["7"]);
    }
    expect(count(C_UPROBE) - before).toBe(7n);
    run(target, ["3"]);
    expect(count(C_UPROBE) - before).toBe(7n);
    expect(() => prog.attachUprobe(target, { symbol: "no_such_symbol" })).toThrow(/no_such_symbol.*ENOENT/);
  });

  it("counts UDP packets with a socket filter", async () => {
    using prog = obj.program("count_socket");
    const receiver = createSocket("udp4");
    const sender = createSocket("udp4");
    try {
      await new Promise<void>((resolve) => receiver.bind(0, "127.0.0.1", resolve));
      const port = receiver.address().port;
      prog.attachSocketFilter(socketFd(receiver));
      const before = count(C_SOCKET);
      let received = 0;
      const allIn = new Promise<void>((resolve) =>
        receiver.on("message", () => {
          if (++received === 5) resolve();
        }),
      );
      for (let i = 0; i < 5; i++) sender.send(`packet ${i}`, port, "127.0.0.1");
      await allIn;
      expect(count(C_SOCKET) - before).toBe(5n);
      prog.detachSocketFilter(socketFd(receiver));
      expect(() => prog.detachSocketFilter(socketFd(receiver))).toThrow(LibbpfError);
    } finally {
      receiver.close();
      sender.close();
    }
  });

  describe("attachXdp", () => {
    const tag = `${process.pid % 100000}`;
    const netns = `ebpf-libbpf-test-${tag}`;
    const hostIf = `ebt${tag}a`;
    const peerIf = `ebt${tag}b`;
    const octet = (process.pid % 250) + 1;

    beforeAll(() => {
      run("ip", ["netns", "add", netns]);
      run("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", peerIf, "netns", netns]);
      run("ip", ["addr", "add", `10.251.${octet}.1/30`, "dev", hostIf]);
      run("ip", ["link", "set", hostIf, "up"]);
      run("ip", ["-n", netns, "addr", "add", `10.251.${octet}.2/30`, "dev", peerIf]);
      run("ip", ["-n", netns, "link", "set", peerIf, "up"]);
    });

    afterAll(() => {
      tryRun("ip", ["link", "del", hostIf]);
      tryRun("ip", ["netns", "del", netns]);
    });

    it("counts packets arriving on a veth in generic mode", () => {
      using prog = obj.program("count_xdp");
      const ifindex = Number(readFileSync(`/sys/class/net/${hostIf}/ifindex`, "utf8"));
      const before = count(C_XDP);
      using link = prog.attachXdp(ifindex, { mode: "generic" });
      expect(link.info()).toMatchObject({ type: "xdp", programId: prog.info().id });
      const script = `const s=require("dgram").createSocket("udp4");let n=0;const f=()=>s.send("x",9,"10.251.${octet}.1",()=>{if(++n<5)f();else s.close()});f();`;
      run("ip", ["netns", "exec", netns, process.execPath, "-e", script]);
      expect(count(C_XDP) - before).toBeGreaterThanOrEqual(1n);
      expect(() => prog.attachXdp(ifindex, { mode: "generic" })).toThrow(LibbpfError);
    });
  });

  describe("attachCgroup", () => {
    const cgroup = `/sys/fs/cgroup/unified/ebpf-libbpf-test-${process.pid}`;

    beforeAll(() => mkdirSync(cgroup));
    afterAll(() => {
      if (existsSync(cgroup)) rmdirSync(cgroup);
    });

    it("counts egress packets of a process in a child cgroup", () => {
      using prog = obj.program("count_egress");
      const before = count(C_CGROUP_EGRESS);
      using link = prog.attachCgroup(cgroup, "cgroup_inet_egress");
      expect(link.info()).toMatchObject({ type: "cgroup", programId: prog.info().id });
      const script =
        `require("fs").writeFileSync(${JSON.stringify(`${cgroup}/cgroup.procs`)}, String(process.pid));` +
        `const s=require("dgram").createSocket("udp4");let n=0;const f=()=>s.send("x",9,"127.0.0.1",()=>{if(++n<5)f();else s.close()});f();`;
      run(process.execPath, ["-e", script]);
      expect(count(C_CGROUP_EGRESS) - before).toBeGreaterThanOrEqual(5n);
    });

    it("rejects an unknown attach type by name", () => {
      using prog = obj.program("count_egress");
      expect(() => prog.attachCgroup(cgroup, "cgroup_nope")).toThrow(/unknown attach type "cgroup_nope"/);
    });
  });

  it("probes program and map types", () => {
    expect(probeProgramType("xdp")).toBe(true);
    expect(probeProgramType("socket_filter")).toBe(true);
    expect(probeMapType("percpu_hash")).toBe(true);
    expect(() => probeProgramType("nonsense")).toThrow(TypeError);
  });

  it("answers a probe without privileges with EPERM, not with 'unsupported'", () => {
    // The built addon in a process with no capabilities at all (still uid 0, so it reads the
    // checkout wherever it is; with the bounding set empty, uid 0 grants no capabilities).
    const script = `import { probeProgramType, probeMapType } from ${JSON.stringify(new URL("../dist/index.js", import.meta.url).pathname)};
      for (const probe of [() => probeProgramType("tracepoint"), () => probeMapType("hash")]) {
        try { console.log(JSON.stringify({ value: probe() })); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
      }`;
    const out = execFileSync(
      "setpriv",
      ["--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", process.execPath, "--input-type=module", "-e", script],
      { encoding: "utf8", cwd: "/" },
    );
    const answers = out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { code?: string; message?: string; value?: boolean });
    expect(answers).toEqual([
      { code: "EPERM", message: expect.stringMatching(/libbpf_probe_bpf_prog_type.*Operation not permitted/) },
      { code: "EPERM", message: expect.stringMatching(/libbpf_probe_bpf_map_type.*Operation not permitted/) },
    ]);
  });

  it("throws ClosedError after close and tolerates closing twice", () => {
    const prog = obj.program("count_execve");
    prog.close();
    prog.close();
    expect(() => prog.fd).toThrow(ClosedError);
    expect(() => prog.info()).toThrow(/BpfProgram counters\/count_execve is closed/);
    expect(() => prog.attachTracepoint("syscalls", "sys_enter_execve")).toThrow(ClosedError);
  });

  it("attaches a program reopened from a pin", () => {
    const pins = makePinDir();
    const pinDir = pins.dir;
    try {
      {
        using prog = obj.program("count_execve");
        prog.pin(`${pinDir}/count_execve`);
      }
      using pinned = BpfProgram.openPinned(`${pinDir}/count_execve`);
      const before = count(C_EXECVE);
      {
        using _link = pinned.attachTracepoint("syscalls", "sys_enter_execve");
        spawnTrue(2);
      }
      expect(count(C_EXECVE) - before).toBeGreaterThanOrEqual(2n);
    } finally {
      pins.remove();
    }
  });
});
