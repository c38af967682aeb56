import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmdirSync, rmSync } from "node:fs";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { compileFixture, makePinDir, makeTempDir, requireKernel, spawnTrue, u32Key, u64 } from "./kernel-test-support.js";
import { BpfLink, BpfObject, ClosedError } from "./index.js";
import type { BpfMap, BpfProgram } from "./index.js";

requireKernel();

const C_EXECVE = 0;
const C_CGROUP_EGRESS = 3;

describe("BpfLink", () => {
  const tmp = makeTempDir();
  const pins = makePinDir();
  let obj: BpfObject;
  let counters: BpfMap;
  let prog: BpfProgram;
  const count = (): bigint => u64(counters.lookup(u32Key(C_EXECVE)));

  beforeAll(() => {
    obj = BpfObject.open({ path: compileFixture("counters", tmp.dir) });
    obj.load();
    counters = obj.map("counters");
    prog = obj.program("count_execve");
  });

  afterAll(() => {
    prog?.close();
    counters?.close();
    obj?.close();
    pins.remove();
    tmp.remove();
  });

  it("stays attached through a pin after its handle is closed, until unpinned", () => {
    const path = `${pins.dir}/execve_link`;
    const link = prog.attachTracepoint("syscalls", "sys_enter_execve");
    try {
      const info = link.info();
      expect(info).toMatchObject({ type: "perf_event", programId: prog.info().id });
      expect(info.id).toBeGreaterThan(0);
      link.pin(path);
      link.close();

      let before = count();
      spawnTrue(3);
      expect(count() - before).toBeGreaterThanOrEqual(3n);

      const reopened = BpfLink.openPinned(path);
      expect(reopened.info()).toEqual(info);
      // perf_event links cannot be detached (the kernel has no detach op for them) ...
      expect(() => reopened.detach()).toThrow(expect.objectContaining({ code: "EOPNOTSUPP" }));
      // ... they go away with their last reference.
      reopened.unpin(path);
      reopened.unpin(path); // ENOENT is ignored
      expect(() => BpfLink.openPinned(path)).toThrow(expect.objectContaining({ code: "ENOENT" }));
      reopened.close();
      before = count();
      spawnTrue(3);
      expect(count()).toBe(before);
    } finally {
      link.close();
      rmSync(path, { force: true });
    }
  });

  describe("on a cgroup", () => {
    const cgroup = `/sys/fs/cgroup/unified/ebpf-libbpf-link-test-${process.pid}`;
    let egress: BpfProgram;
    const egressCount = (): bigint => u64(counters.lookup(u32Key(C_CGROUP_EGRESS)));
    const sendFromCgroup = (): void => {
      const script =
        `require("fs").writeFileSync(${JSON.stringify(`${cgroup}/cgroup.procs`)}, String(process.pid));` +
        `const s=require("dgram").createSocket("udp4");let n=0;const f=()=>s.send("x",9,"127.0.0.1",()=>{if(++n<3)f();else s.close()});f();`;
      execFileSync(process.execPath, ["-e", script], { stdio: "pipe" });
    };

    beforeAll(() => {
      mkdirSync(cgroup);
      egress = obj.program("count_egress");
    });

    afterAll(() => {
      egress?.close();
      if (existsSync(cgroup)) rmdirSync(cgroup);
    });

    it("is detached for every holder by detach(), even while pinned", () => {
      const path = `${pins.dir}/egress_link`;
      const link = egress.attachCgroup(cgroup, "cgroup_inet_egress");
      try {
        link.pin(path);
        const id = link.info().id;
        link.close();

        let before = egressCount();
        sendFromCgroup();
        expect(egressCount() - before).toBeGreaterThanOrEqual(3n);

        using reopened = BpfLink.openPinned(path);
        expect(reopened.info()).toMatchObject({ id, type: "cgroup", programId: egress.info().id });
        reopened.detach();
        before = egressCount();
        sendFromCgroup();
        expect(egressCount()).toBe(before);
        // The pin still exists and the link is defunct.
        using again = BpfLink.openPinned(path);
        expect(again.info().id).toBe(id);
      } finally {
        link.close();
        rmSync(path, { force: true });
      }
    });
  });

  it("detaches when the last fd of an unpinned link is closed", () => {
    const link = prog.attachTracepoint("syscalls", "sys_enter_execve");
    spawnTrue(1);
    link.close();
    const before = count();
    spawnTrue(3);
    expect(count()).toBe(before);
  });

  it("refuses to open a pinned map as a link", () => {
    const path = `${pins.dir}/counters`;
    counters.pin(path);
    expect(() => BpfLink.openPinned(path)).toThrow(/pinned map, not a link/);
  });

  it("throws ClosedError after close and tolerates closing twice", () => {
    const link = prog.attachTracepoint("syscalls", "sys_enter_execve");
    link.close();
    link.close();
    expect(() => link.fd).toThrow(ClosedError);
    expect(() => link.info()).toThrow(/BpfLink tracepoint syscalls\/sys_enter_execve is closed/);
    expect(() => link.detach()).toThrow(ClosedError);
    expect(() => link.pin(`${pins.dir}/x`)).toThrow(ClosedError);
  });
});
