// Runs INSIDE the VM-test guest (test/vm/pod-scope-kprobe.vm.test.ts, docs/vm-tests.md), in place
// of guest-runner.mjs: pod-scoped kprobe and kretprobe programs behind the agent's cgroup gate on
// a kernel that has kprobes. Plain JavaScript on the host's built packages (dist/): the loader
// with the real kprobe plugin, the object compiled on the host beforehand (clang under TCG is
// minutes; the compile is not what this proves).
//
//   node pod-scope-guest.mjs <scenario.json>     (scenario.args: { repoRoot, objects: [...] })
//
// It mounts cgroup v2 in the guest, lays out two pods the way the kubelet's cgroupfs driver and
// containerd do (kubepods/besteffort/pod<uid>/<container id>), loads each object pod-scoped, lets
// alice's pod through the gate, and makes the same number of getpid calls from alice's pod, bob's
// pod and the guest's root cgroup. Every result is an `EOP-RESULT <label> <base64 JSON>` line.
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

function emit(label, value) {
  const payload = Buffer.from(
    JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)),
    "utf8",
  ).toString("base64");
  process.stdout.write(`EOP-RESULT ${label} ${payload}\n`);
}

const GETPID = 39;

function getpids(cgroupDir, count) {
  const script = `if ($ARGV[0] ne "") { open(my $f, ">", "$ARGV[0]/cgroup.procs") or die "open: $!"; print $f $$; close($f) or die "move: $!"; } syscall(${GETPID}) for 1..$ARGV[1];`;
  const r = spawnSync("perl", ["-e", script, cgroupDir ?? "", String(count)], { stdio: "pipe" });
  if (r.status !== 0) throw new Error(`getpid workload failed: ${r.stderr}`);
}

async function main() {
  const scenario = JSON.parse(readFileSync(process.argv[2], "utf8"));
  const { repoRoot, objects, calls } = scenario.args;
  const core = await import(pathToFileURL(join(repoRoot, "packages/core/dist/index.js")).href);
  const { default: kprobePlugin } = await import(pathToFileURL(join(repoRoot, "packages/plugin-kprobe/dist/index.js")).href);
  emit("guest", { kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(), kprobePmu: existsSync("/sys/bus/event_source/devices/kprobe") });

  if (!existsSync("/sys/fs/cgroup/cgroup.procs")) {
    const m = spawnSync("mount", ["-t", "cgroup2", "none", "/sys/fs/cgroup"], { stdio: "pipe" });
    if (m.status !== 0) throw new Error(`mount cgroup2: ${m.stderr}`);
  }
  const made = [];
  const mk = (path) => {
    let dir = "/sys/fs/cgroup";
    for (const part of path.split("/")) {
      dir = join(dir, part);
      if (!existsSync(dir)) {
        mkdirSync(dir);
        made.push(dir);
      }
    }
    return dir;
  };
  const pod = (namespace, name) => {
    const uid = randomUUID();
    const podPath = `eop-vm/kubepods/besteffort/pod${uid}`;
    const podDir = mk(podPath);
    const containerDir = mk(`${podPath}/${randomUUID().replaceAll("-", "")}`);
    return { uid, namespace, name, podDir, containerDir, path: `/${podPath}`, level: podPath.split("/").length };
  };
  const alice = pod("alice", "web-a1");
  const bob = pod("bob", "web-b1");

  const logger = core.createLogger({ level: "warn" });
  const registry = new core.PluginRegistry();
  registry.register(kprobePlugin);
  const loader = new core.ProgramLoader("/sys/fs/bpf/eop-vm-podscope", registry, { logger, tracefs: core.ensureTracefs });
  const u32 = (n) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  try {
    for (const object of objects) {
      const spec = {
        type: object.type,
        target: "sys_getpid",
        program: object.program,
        map: "seen",
        selector: { matchLabels: { app: "web" } },
        code: object.code,
      };
      const loaded = await loader.load({ ref: { namespace: "alice", name: object.program }, spec, object: { path: object.path, hash: object.hash }, logger });
      const attachments = loaded.attachments.map((a) => a.description);
      const seen = () => loaded.maps.get("seen").lookup(u32(0)).readBigUInt64LE(0);
      // Before any pod is let through: nobody counts.
      getpids(alice.containerDir, calls);
      const beforePods = seen();
      await loader.attachPod(loaded, {
        uid: alice.uid,
        namespace: alice.namespace,
        pod: alice.name,
        directory: alice.podDir,
        path: alice.path,
        cgroupId: statSync(alice.podDir, { bigint: true }).ino,
        level: alice.level,
      });
      getpids(alice.containerDir, calls);
      getpids(bob.containerDir, calls);
      getpids(undefined, calls);
      const withAlice = seen();
      const rows = [];
      const callsMap = loaded.maps.get("calls");
      for (let key = callsMap.nextKey(); key; key = callsMap.nextKey(key))
        rows.push({ cgroup: key.readBigUInt64LE(0), count: callsMap.lookup(key).readBigUInt64LE(0) });
      await loader.detachPod(loaded, alice.uid);
      getpids(alice.containerDir, calls);
      const afterDetach = seen();
      emit(object.program, {
        attachments,
        beforePods,
        withAlice,
        afterDetach,
        rows,
        aliceContainer: statSync(alice.containerDir, { bigint: true }).ino,
      });
      await loader.unload(loaded);
    }
  } finally {
    for (const dir of made.reverse()) {
      for (let i = 0; i < 50 && existsSync(dir); i++) {
        try {
          rmdirSync(dir);
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    }
  }
}

main().then(
  () => {
    emit("runner", { ok: true });
    process.exit(0);
  },
  (error) => {
    emit("runner", { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  },
);
