/**
 * For the kernel tests of pod scope: the agent as the cluster agent builds it (its own
 * container: compiler, loader, the real plugins the test names, the real pod discovery), the
 * pods "the API server" lists on the node (a StaticPodSource), a pin root and a compiler cache of
 * the test's own, and the kubelet's cgroup layout (KubeletLayout). One builder, so each test file
 * says only what differs (its plugins, the pod sync's interval, a rebinding); `cleanup()` undoes
 * all of it, pass or fail, and throws when something is left behind.
 */
import { spawnSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  PLUGIN,
  StaticPodSource,
  TOKENS,
  createAgentContainer,
  createLogger,
  defaultPodScope,
  registryText,
  type Agent,
  type AgentSettings,
  type ParsedManifest,
  type PodScopeDependencies,
  type ProgramTypePlugin,
} from "@ebpf-operator/core";
import { KubeletLayout } from "./kubelet-layout.js";
import { sampleValue } from "./metrics.js";

type Container = Awaited<ReturnType<typeof createAgentContainer>>;

export interface PodScopeAgentOptions {
  /** Names the pin root (`/sys/fs/bpf/eop-test-<name>-<pid>`), the cache and the kubelet's cgroup root. */
  name: string;
  plugins: readonly ProgramTypePlugin[];
  /** The agent's pod sync interval (default 500 ms). */
  intervalMs?: number;
  /** The agent's retry backoff after a system fault (default the agent's: 5 s doubling). */
  retry?: AgentSettings["retry"];
  /** Rebinds what a test needs before the agent is resolved (the enforcement, the pod labels); `scope` is the bound pod scope. */
  configure?: (container: Container, scope: PodScopeDependencies) => void;
}

export class PodScopeAgent {
  readonly pinRoot: string;
  readonly cacheDir: string;
  /** The pods the test's "API server" lists on the node. */
  readonly pods = new StaticPodSource();
  /** The latest agent `start()` built (what `stop()` and `cleanup()` stop). */
  agent: Agent | undefined;
  private kubelet_: KubeletLayout | undefined;
  private families_: (() => Promise<string>) | undefined;

  /** Names only (usable in a describe block); `layout()` makes the cgroups, `start()` the agent. */
  constructor(private readonly options: PodScopeAgentOptions) {
    this.pinRoot = `/sys/fs/bpf/eop-test-${options.name}-${process.pid}`;
    this.cacheDir = mkdtempSync(join(tmpdir(), `eop-${options.name}-`));
  }

  /** The test's kubelet cgroup root (below a cgroup of the test's own, never the root cgroup), made on the first call. */
  async layout(): Promise<KubeletLayout> {
    this.kubelet_ ??= await KubeletLayout.create(`eop-test-${this.options.name}-${process.pid}`);
    return this.kubelet_;
  }

  /**
   * A new agent over the same pins, cache and pods (a restart, after the test shut the last one
   * down). `configure` here applies to this agent only, after the options' own.
   */
  async start(configure?: PodScopeAgentOptions["configure"]): Promise<Agent> {
    const { plugins, intervalMs = 500, retry } = this.options;
    const container = await createAgentContainer(
      { pinRoot: this.pinRoot, cacheDir: this.cacheDir, plugins: [], ...(retry ? { retry } : {}) },
      createLogger({ level: "silent" }),
    );
    for (const plugin of plugins) container.bind(PLUGIN).toConstantValue(plugin);
    // Pods from the test's "API server"; their cgroups from the kernel's tree, discovered for real.
    const scope: PodScopeDependencies = { ...defaultPodScope(this.pods), intervalMs, standalone: false };
    container.rebind(TOKENS.Pods).toConstantValue(scope);
    this.options.configure?.(container, scope);
    configure?.(container, scope);
    const registry = container.get(TOKENS.Families);
    this.families_ = () => registryText(registry);
    this.agent = container.get(TOKENS.Agent);
    return this.agent;
  }

  // Arrow properties: a test may take them out of the builder (`const { status, families } = env`).

  /** The text the latest agent serves at /metrics (its own metrics and the maps'). */
  readonly families = (): Promise<string> => {
    if (!this.families_) throw new Error("no agent started");
    return this.families_();
  };

  /** A sample of the latest agent's /metrics, of resource `namespace/ebpfmap`; undefined when absent. */
  readonly value = async (metric: string, namespace: string, ebpfmap: string, labels: Record<string, string> = {}): Promise<number | undefined> =>
    sampleValue(await this.families(), metric, { namespace, ebpfmap, ...labels });

  /** A resource's status in the latest agent. */
  readonly status = (namespace: string, name: string) => this.agent?.statuses().find((s) => s.namespace === namespace && s.name === name);

  /** Removes every resource and shuts the latest agent down (pins of removed resources go; nothing else). */
  async stop(): Promise<void> {
    const agent = this.agent;
    this.agent = undefined;
    await agent?.sync([]).catch(() => undefined);
    await agent?.shutdown().catch(() => undefined);
  }

  /** `stop()`, then removes the cgroups, pins and cache; throws if the kernel's trees keep any of them. */
  async cleanup(): Promise<void> {
    await this.stop();
    await this.kubelet_?.remove();
    rmSync(this.pinRoot, { recursive: true, force: true });
    rmSync(this.cacheDir, { recursive: true, force: true });
    const left = [this.kubelet_?.top, this.pinRoot].filter((path): path is string => path !== undefined && existsSync(path));
    if (left.length > 0) throw new Error(`pod-scope test left behind: ${left.join(", ")}`);
  }
}

/** An EbpfMap as a manifest file would give it to the agent. */
export function ebpfMap(namespace: string, name: string, spec: Record<string, unknown>): ParsedManifest {
  return {
    source: `${namespace}-${name}.yaml`,
    document: 0,
    ref: { namespace, name },
    resource: { apiVersion: "observability.cloud/v1", kind: "EbpfMap", metadata: { name, namespace, generation: 1 }, spec } as ParsedManifest["resource"],
  };
}

/**
 * C for a program counting calls by the caller's cgroup: the maps `calls` (cgroup id -> calls)
 * and `runs` (every run of the program, one slot), and `count_call()`, which counts one call in
 * both. Include after the headers; the pod-scope tests check with `runs` that the program ran
 * for the selected pods' calls and for nothing else.
 */
export const COUNT_BY_CGROUP = `struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 1024);
  __type(key, u64);
  __type(value, u64);
} calls SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u64);
} runs SEC(".maps");

static __always_inline void count_call(void) {
  u32 zero = 0;
  u64 cgroup = bpf_get_current_cgroup_id();
  u64 *n = bpf_map_lookup_elem(&runs, &zero);
  if (n) __sync_fetch_and_add(n, 1);
  EOP_COUNTER_INC(calls, cgroup);
}
`;

/** The C headers every test program starts with. */
export const HEADERS = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <ebpf-operator/metrics.h>
`;

/** The metrics over COUNT_BY_CGROUP's maps: `<calls>_total{pod}` (calls by pod) and `<runs>_total` (every run). */
export function countByPodMetrics(names: { calls: string; runs: string }, help: string): Record<string, unknown>[] {
  return [
    { name: names.calls, help, type: "counter", map: "calls", labels: [{ name: "pod", decoders: [{ name: "uint" }, { name: "pod" }] }] },
    { name: names.runs, help: "every run of the program", type: "counter", map: "runs" },
  ];
}

/** A UDP listener on loopback that counts datagrams, and senders placed in a cgroup (a pod's container) of the test's choosing. */
export class LoopbackSink {
  private received = 0;

  private constructor(private readonly socket: Socket) {
    socket.on("message", () => this.received++);
  }

  static async open(): Promise<LoopbackSink> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    return new LoopbackSink(socket);
  }

  /** Sends `count` datagrams from a process that first moves itself into `cgroupDir`; returns how many arrived. */
  async sendFrom(cgroupDir: string, count: number): Promise<number> {
    const before = this.received;
    const script =
      `require("fs").writeFileSync(${JSON.stringify(join(cgroupDir, "cgroup.procs"))}, String(process.pid));` +
      `const s=require("dgram").createSocket("udp4");let i=0;` +
      `const f=()=>s.send(Buffer.alloc(16,120),${this.socket.address().port},"127.0.0.1",(e)=>{if(e)throw e;if(++i<${count})f();else s.close()});f();`;
    const result = spawnSync(process.execPath, ["-e", script], { stdio: "pipe" });
    if (result.status !== 0) throw new Error(`sender failed: ${result.stderr.toString()}`);
    const deadline = Date.now() + 3000;
    while (this.received - before < count && Date.now() < deadline) await sleep(20);
    return this.received - before;
  }

  close(): Promise<void> {
    return new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
