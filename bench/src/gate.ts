/**
 * What the pod-scope gate of tracing programs (core's loader/pod-gate.ts) costs per event. One
 * tenant program — counting calls by the caller's cgroup id in a hash, as a pod-scoped tenant's
 * would — is run by the real agent (in process, built as the cluster agent is: compiler, loader,
 * the tracepoint plugin, pod discovery over the kubelet's cgroup layout, pods from a
 * StaticPodSource) as two resources at syscalls/sys_enter_getppid:
 *
 *   direct   node-wide (no spec.selector): the tenant's program itself attached — the baseline
 *   gated    the same code with spec.selector: the agent's gate attached, the tenant's program
 *            reached only through the gate's tail call
 *
 * Each runs alone (a second program on the tracepoint would share the event's cache misses and
 * bias whichever runs first); within each run both are measured, and the workload with neither,
 * in an order that alternates run by run, so all see the same load. The workload (perl: GETPPIDS
 * getppid calls, a syscall nothing else on the machine makes often) runs in the container cgroup of a selected pod ("selected": the gate walks
 * the task's cgroup ancestors up to the pod's, finds it in its filter and tail-calls) and of an
 * unselected pod at the same depth ("not selected": the gate walks every level, finds nothing and
 * returns). The cgroups are laid out as the kubelet does (cgroupfs driver) below a cgroup of the
 * benchmark's own on the cgroup v2 mount, never the root cgroup.
 *
 * Kernel BPF statistics (`enableStats()`): ns per event = Δ run_time_ns / Δ run_cnt of each
 * program. A tail call runs inside its caller's accounting, so the gate's figure is the gate and
 * the tenant's program together: the whole cost of the gated resource per event. The ratio
 * gated / direct is taken per run, the median of RUNS runs reported. Beside it, as the workload
 * sees it: (wall time with the resource − wall time with none) / calls, statistics on in all
 * three (they add the same two clock reads to each program run). Writes
 * bench/results/gate.json. Everything made (pins, cgroups) is removed, pass or fail.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, rmdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  PLUGIN,
  StaticPodSource,
  TOKENS,
  createAgentContainer,
  createLogger,
  defaultPodScope,
  findCgroup2MountInfo,
  type Agent,
  type ParsedManifest,
} from "@ebpf-operator/core";
import { BpfLink, enableStats } from "@ebpf-operator/libbpf";
import { tracepointPlugin } from "@ebpf-operator/plugin-tracepoint";
import { log, machine, quick, run, stat, writeResult, type Stat } from "./common.js";

const GETPPIDS = quick ? 200_000 : 1_000_000;
const RUNS = quick ? 3 : 7;
const GETPPID = 110; // x86_64
const TARGET = "syscalls/sys_enter_getppid";

const CODE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <ebpf-operator/metrics.h>

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 1024);
  __type(key, u64);
  __type(value, u64);
} calls SEC(".maps");

SEC("tracepoint/${TARGET}")
int count_calls(void *ctx) {
  u64 cgroup = bpf_get_current_cgroup_id();
  EOP_COUNTER_INC(calls, cgroup);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

export type GateCase = "selected" | "not selected";

export interface GateRow {
  case: GateCase;
  /** The workload's cgroup depth below the cgroup v2 root (the gate walks up to it, or past it when not selected). */
  depth: number;
  directNsPerEvent: Stat;
  gatedNsPerEvent: Stat;
  /** gated / direct, per run. */
  ratio: Stat;
  /** The workload's wall time per call over its time with no program: direct, gated (ns). */
  directWallNsPerCall: Stat;
  gatedWallNsPerCall: Stat;
  /** Program runs per workload run (the workload's calls, and any other task's getppid). */
  eventsPerRun: Stat;
}

export interface GateResults {
  when: string;
  quick: boolean;
  runs: number;
  calls: number;
  target: string;
  commit: string;
  machine: ReturnType<typeof machine>;
  rows: GateRow[];
}

function resource(name: string, selector?: unknown): ParsedManifest {
  return {
    source: `${name}.yaml`,
    document: 0,
    ref: { namespace: "bench", name },
    resource: {
      apiVersion: "observability.cloud/v1",
      kind: "EbpfMap",
      metadata: { name, namespace: "bench", generation: 1 },
      spec: {
        type: "tracepoint",
        target: TARGET,
        program: "count_calls",
        ...(selector ? { selector } : {}),
        metrics: [
          {
            name: `bench_gate_${name}_calls`,
            help: "getppid calls by cgroup",
            type: "counter",
            map: "calls",
            labels: [{ name: "cgroup", decoders: [{ name: "uint" }] }],
          },
        ],
        code: CODE,
      },
    } as ParsedManifest["resource"],
  };
}

/** The run time and count of a program (kernel statistics), by id. */
function programStats(id: number): { ns: number; count: number } {
  const info = JSON.parse(execFileSync("bpftool", ["prog", "show", "id", String(id), "-j"], { encoding: "utf8" })) as {
    run_time_ns?: number;
    run_cnt?: number;
  };
  return { ns: info.run_time_ns ?? 0, count: info.run_cnt ?? 0 };
}

/** The id of the program a resource's first pinned link runs (the gate, for the gated resource). */
function linkedProgram(agent: Agent, name: string): number {
  const dir = agent.statuses().find((s) => s.name === name)?.program?.pinDir;
  if (!dir) throw new Error(`resource ${name} has no pinned generation`);
  using link = BpfLink.openPinned(join(dir, "link_0"));
  return link.info().programId;
}

async function main(): Promise<void> {
  const mount = await findCgroup2MountInfo();
  if (!mount) throw new Error("the gate benchmark needs a cgroup v2 hierarchy");
  const top = join(mount.path, `eop-bench-gate-${process.pid}`);
  const pinRoot = `/sys/fs/bpf/eop-bench-gate-${process.pid}`;
  const cacheDir = mkdtempSync(join(tmpdir(), "eop-bench-gate-"));
  const made: string[] = [];
  const mkcgroup = (relative: string): string => {
    let dir = top;
    for (const part of ["", ...relative.split("/")]) {
      dir = part === "" ? dir : join(dir, part);
      if (!existsSync(dir)) {
        mkdirSync(dir);
        made.push(dir);
      }
    }
    return dir;
  };
  const pods = new StaticPodSource();
  /** A pod as the kubelet (cgroupfs driver) and containerd lay it out; returns its container's cgroup. */
  const makePod = (name: string, app: string): string => {
    const uid = randomUUID();
    pods.set({ uid, namespace: "bench", name, labels: { app }, deleting: false });
    return mkcgroup(`kubepods/besteffort/pod${uid}/${randomUUID().replaceAll("-", "")}`);
  };
  let agent: Agent | undefined;
  try {
    const selected = makePod("selected", "web");
    const unselected = makePod("unselected", "other");
    const container = await createAgentContainer({ pinRoot, cacheDir, plugins: [] }, createLogger({ level: "warn" }));
    container.bind(PLUGIN).toConstantValue(tracepointPlugin);
    container.rebind(TOKENS.Pods).toConstantValue({ ...defaultPodScope(pods), intervalMs: 500, standalone: false });
    agent = container.get(TOKENS.Agent);
    const resources = { direct: resource("direct"), gated: resource("gated", { matchLabels: { app: "web" } }) };
    /** Runs one resource alone (the other removed; "none": neither); returns the id of the program its link runs. */
    const only = async (which: "direct" | "gated" | "none"): Promise<number> => {
      await agent!.sync(which === "none" ? [] : [resources[which]]);
      if (which === "none") return 0;
      const status = () => agent!.statuses().find((s) => s.name === which);
      if (status()?.phase !== "Running") throw new Error(`resource ${which}: ${status()?.phase} ${status()?.lastError?.message ?? ""}`);
      // The gated resource lets the selected pod through once a pod sync has found its cgroup.
      for (let i = 0; which === "gated" && i < 100 && !status()?.program?.attachments.length; i++) await new Promise((r) => setTimeout(r, 100));
      if (which === "gated" && status()?.program?.attachments.length !== 1) throw new Error("the gated resource did not let the selected pod through");
      return linkedProgram(agent!, which);
    };

    const workload = (cgroup: string) =>
      run("perl", [
        "-e",
        `open(my $f, ">", "$ARGV[0]/cgroup.procs") or die; print $f $$; close($f) or die; syscall(${GETPPID}) for 1..$ARGV[1];`,
        cgroup,
        String(GETPPIDS),
      ]);
    /** ns per event of program `id` over one workload run in `cgroup`, and the events it ran for. */
    const measure = async (id: number, cgroup: string): Promise<{ ns: number; events: number; wallMs: number }> => {
      if (id === 0) return { ns: NaN, events: 0, wallMs: (await workload(cgroup)).wallMs };
      const before = programStats(id);
      const { wallMs } = await workload(cgroup);
      const after = programStats(id);
      return { ns: (after.ns - before.ns) / (after.count - before.count), events: after.count - before.count, wallMs };
    };
    const depth = (cgroup: string) => cgroup.slice(mount.path.length).split("/").filter(Boolean).length;
    const rows: GateRow[] = [];
    using _stats = enableStats();
    await workload(selected); // warm up: perl, the page cache
    const cases = [
      ["selected", selected],
      ["not selected", unselected],
    ] as const;
    const samples = new Map<GateCase, { direct: number[]; gated: number[]; ratio: number[]; events: number[]; directWall: number[]; gatedWall: number[] }>();
    const orders = [
      ["direct", "gated", "none"],
      ["gated", "none", "direct"],
      ["none", "direct", "gated"],
    ] as const;
    for (let i = 0; i < RUNS; i++) {
      // Each resource runs alone (a second program on the tracepoint would share, and bias, the
      // event's cache misses); which goes first alternates run by run, so a drift of the
      // machine's load touches both alike.
      const m = new Map<string, { ns: number; events: number; wallMs: number }>();
      for (const which of orders[i % orders.length]!) {
        const id = await only(which);
        for (const [name, cgroup] of cases) m.set(`${which}/${name}`, await measure(id, cgroup));
      }
      for (const [name] of cases) {
        const s = samples.get(name) ?? { direct: [], gated: [], ratio: [], events: [], directWall: [], gatedWall: [] };
        const direct = m.get(`direct/${name}`)!;
        const gated = m.get(`gated/${name}`)!;
        const none = m.get(`none/${name}`)!;
        s.direct.push(direct.ns);
        s.gated.push(gated.ns);
        s.ratio.push(gated.ns / direct.ns);
        s.events.push(direct.events);
        s.directWall.push(((direct.wallMs - none.wallMs) * 1e6) / GETPPIDS);
        s.gatedWall.push(((gated.wallMs - none.wallMs) * 1e6) / GETPPIDS);
        samples.set(name, s);
      }
    }
    for (const [name, s] of samples) {
      const row: GateRow = {
        case: name,
        depth: depth(name === "selected" ? selected : unselected),
        directNsPerEvent: stat(s.direct),
        gatedNsPerEvent: stat(s.gated),
        ratio: stat(s.ratio),
        eventsPerRun: stat(s.events),
        directWallNsPerCall: stat(s.directWall),
        gatedWallNsPerCall: stat(s.gatedWall),
      };
      rows.push(row);
      log(
        `gate ${name}: direct ${row.directNsPerEvent.median.toFixed(0)} ns/event, gated ${row.gatedNsPerEvent.median.toFixed(0)} ns/event, ratio ${row.ratio.median.toFixed(2)} [${row.ratio.min.toFixed(2)}–${row.ratio.max.toFixed(2)}]; wall +${row.directWallNsPerCall.median.toFixed(0)} / +${row.gatedWallNsPerCall.median.toFixed(0)} ns per call`,
      );
    }
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const results: GateResults = { when: new Date().toISOString(), quick, runs: RUNS, calls: GETPPIDS, target: TARGET, commit, machine: machine(), rows };
    log(`wrote ${writeResult("gate", results)}`);
  } finally {
    await agent?.sync([]).catch(() => undefined);
    await agent?.shutdown().catch(() => undefined);
    for (const dir of made.reverse()) {
      for (let i = 0; i < 50 && existsSync(dir); i++) {
        try {
          rmdirSync(dir);
        } catch {
          await new Promise((r) => setTimeout(r, 20)); // a finished workload leaves its cgroup a moment later
        }
      }
    }
    rmSync(pinRoot, { recursive: true, force: true });
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
