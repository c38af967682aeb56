/**
 * The agent's reconciler with its dependencies injected: a stand-in loader and object provider,
 * maps that answer from memory, and the real collector and metric registry. The logic under
 * test — serialised work per resource, keep the last good spec, all-or-nothing serving, plans
 * built once per load, whose fault a failure is — is the agent's own; the whole process on the
 * real kernel is test/kernel/agent.kernel.test.ts.
 */
import type { BpfMap, BpfProgram, BtfType, MapEntries, MapInfo } from "@ebpf-operator/libbpf";
import { Registry } from "prom-client";
import { beforeEach, describe, expect, it } from "vitest";
import type { Desired } from "../api/manifest.js";
import type { EbpfMapSpec } from "../api/schema.js";
import { operatorError } from "../errors.js";
import { createLogger } from "../logger.js";
import type { LoadRequest, LoadedProgram, PreflightProgram } from "../loader/program-loader.js";
import type { Attachment } from "../plugin/sdk.js";
import { createAgentMetrics } from "../observability/agent-metrics.js";
import { MapCollector } from "../scrape/map-family.js";
import { MetricRegistry } from "../scrape/registry.js";
import { registryText } from "../scrape/registry-text.js";
import { Agent } from "./agent.js";
import type { ObjectProvider } from "./object-provider.js";

const u32: BtfType = { kind: "int", name: "unsigned int", size: 4, signed: false, char: false, bool: false };
const u64: BtfType = { kind: "int", name: "unsigned long long", size: 8, signed: false, char: false, bool: false };

/** A map that answers from memory and counts how often its types are asked for (planning). */
function memoryMap(name: string, rows: [number, number][], valueSize = 8): BpfMap & { typeReads: number } {
  const info: MapInfo = { id: 1, name, type: "hash", keySize: 4, valueSize, maxEntries: 64, flags: 0, btfId: 1, btfKeyTypeId: 1, btfValueTypeId: 2 };
  const map = {
    typeReads: 0,
    info,
    isPerCpu: false,
    describeKey: () => (map.typeReads++, u32),
    describeValue: () => (valueSize === 8 ? u64 : undefined),
    readAll: async (): Promise<MapEntries> => {
      const keys = Buffer.alloc(rows.length * 4);
      const values = Buffer.alloc(rows.length * 8);
      rows.forEach(([k, v], i) => {
        keys.writeUInt32LE(k, i * 4);
        values.writeBigUInt64LE(BigInt(v), i * 8);
      });
      return { count: rows.length, keySize: 4, valueStride: 8, keys, values, method: "batch", syscalls: 1 };
    },
  };
  return map as unknown as BpfMap & { typeReads: number };
}

/** The loader's contract without the kernel: "loads" give the maps the code names. */
class FakeLoader {
  readonly loaded: string[] = [];
  readonly unloaded: string[] = [];
  preflightError: Error | undefined;
  loadError: Error | undefined;
  maps = new Map<string, BpfMap & { typeReads: number }>();
  private nextId = 100;

  async preflight(): Promise<PreflightProgram[]> {
    if (this.preflightError) throw this.preflightError;
    return [];
  }

  loadCalls = 0;

  async load(request: LoadRequest): Promise<LoadedProgram> {
    this.loadCalls++;
    if (this.loadError) throw this.loadError;
    const maps = new Map<string, BpfMap>(this.maps);
    request.checkMaps?.(maps);
    const id = this.nextId++;
    const dir = `/pins/${request.ref.namespace}/${request.ref.name}/${request.object.hash}`;
    this.loaded.push(dir);
    const program = { info: () => ({ id }) } as unknown as BpfProgram;
    const attachments: Attachment[] = [{ kind: "handle", description: "fake", close: () => undefined }];
    const { program: name = "p", type = "tracepoint", target = "a/b" } = request.spec;
    return {
      ref: request.ref,
      loadKey: request.object.hash,
      dir,
      adopted: false,
      programs: [{ name, type, target, program, attachments }],
      program,
      maps,
      attachments,
      mapBytes: 0,
    };
  }

  async recheck(): Promise<void> {}

  async unload(loaded: LoadedProgram): Promise<void> {
    this.unloaded.push(loaded.dir);
  }

  async listPinned(): Promise<never[]> {
    return [];
  }

  async removePinned(): Promise<void> {}
  async attachPod(): Promise<never> {
    throw new Error("not pod-scoped");
  }
  async detachPod(): Promise<void> {}
}

/** Objects keyed by the code: an edit of the code is a new object, hence a new load. */
const objects: ObjectProvider = {
  step: "compile",
  obtain: async ({ resource }) => {
    if (resource.spec.code.includes("syntax error")) throw operatorError("EOP_ERR_COMPILE_FAILED", "clang: error: expected ';'");
    return { objectPath: "/objects/x.o", hash: `obj-${resource.spec.code.length}`, cached: false };
  },
};

function desired(name: string, spec: Partial<EbpfMapSpec> = {}, namespace = "team-a"): Desired {
  return {
    source: `${name}.yaml`,
    ref: { namespace, name },
    resource: {
      metadata: { name, namespace, generation: 1 },
      spec: { type: "tracepoint", target: "a/b", program: "p", code: "int x;", name: "opens", map: "counts", ...spec },
    },
  };
}

describe("Agent (the reconciler)", () => {
  let loader: FakeLoader;
  let families: MetricRegistry;
  let agent: Agent;
  let notified: string[];
  const status = (name: string) => agent.statuses().find((s) => s.name === name)!;
  const text = () => registryText(families);

  beforeEach(() => {
    loader = new FakeLoader();
    loader.maps.set(
      "counts",
      memoryMap("counts", [
        [1, 10],
        [2, 20],
      ]),
    );
    const prom = new Registry();
    families = new MetricRegistry(prom);
    const metrics = createAgentMetrics(prom);
    agent = new Agent({ objects, loader, collector: new MapCollector(families, metrics), metrics, logger: createLogger({ level: "silent" }) });
    notified = [];
    agent.onStatus((ref, s) => notified.push(`${ref.name}:${s?.phase ?? "gone"}`));
  });

  it("loads, serves the map's rows as the resource's metric and reports Running", async () => {
    await agent.sync([desired("opens")]);
    expect(status("opens")).toMatchObject({ phase: "Running", metric: "opens_total", objectHash: "obj-6", program: { id: 100 } });
    expect(await text()).toContain('opens_total{namespace="team-a",ebpfmap="opens",key="1"} 10\nopens_total{namespace="team-a",ebpfmap="opens",key="2"} 20\n');
    expect(notified).toContain("opens:Running");
  });

  it("plans each metric once per load: the map's types are read once", async () => {
    await agent.sync([desired("opens", { name: undefined, map: undefined, metrics: [{ name: "by_key", map: "counts", type: "gauge" }] })]);
    expect(loader.maps.get("counts")!.typeReads).toBe(1); // in checkMaps, before attach; serving reuses the plan
    expect(await text()).toContain('by_key{namespace="team-a",ebpfmap="opens",key="1"} 10');
  });

  it("keeps the previous program running when an edit fails to compile (Degraded), and replaces it when the edit is fixed", async () => {
    await agent.sync([desired("opens")]);
    await agent.sync([desired("opens", { code: "syntax error" })]);
    expect(status("opens")).toMatchObject({ phase: "Degraded", lastError: { code: "EOP_ERR_COMPILE_FAILED" } });
    expect(status("opens").conditions.find((c) => c.type === "Ready")).toMatchObject({ status: "True", reason: "RunningPreviousSpec" });
    expect(await text()).toContain("opens_total{");
    await agent.sync([desired("opens", { code: "int y = 2;" })]);
    expect(status("opens")).toMatchObject({ phase: "Running", objectHash: "obj-10" });
    expect(loader.unloaded).toEqual(["/pins/team-a/opens/obj-6"]); // the old one, after the new one attached
  });

  it("says whose fault a preflight failure is: the spec's (InvalidSpec) or the system's (LoadFailed)", async () => {
    loader.preflightError = operatorError("EOP_ERR_TARGET_INVALID", 'spec.target "x" is not category/name');
    await agent.sync([desired("bad-target")]);
    expect(status("bad-target").conditions.find((c) => c.type === "Ready")).toMatchObject({ status: "False", reason: "InvalidSpec" });
    loader.preflightError = operatorError("EOP_ERR_PLUGIN_FAILED", "the plugin threw");
    await agent.sync([desired("plugin-broke")]);
    expect(status("plugin-broke").conditions.find((c) => c.type === "Ready")).toMatchObject({ status: "False", reason: "LoadFailed" });
    expect(status("plugin-broke").phase).toBe("Failed");
  });

  describe("retries", () => {
    const until = async (what: string, check: () => boolean, ms = 5_000) => {
      for (const deadline = Date.now() + ms; !check(); await new Promise((r) => setTimeout(r, 5))) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      }
    };
    beforeEach(async () => {
      await agent.shutdown();
      const prom = new Registry();
      families = new MetricRegistry(prom);
      const metrics = createAgentMetrics(prom);
      agent = new Agent({
        objects,
        loader,
        collector: new MapCollector(families, metrics),
        metrics,
        logger: createLogger({ level: "silent" }),
        retry: { minMs: 20, maxMs: 40 },
      });
    });

    it("tries a failure that may pass (the system's) again with backoff, without an edit, until it loads", async () => {
      loader.loadError = operatorError("EOP_ERR_LOAD_FAILED", "bpf_object__load: Cannot allocate memory");
      await agent.sync([desired("opens")]);
      expect(status("opens")).toMatchObject({
        phase: "Failed",
        lastError: { code: "EOP_ERR_LOAD_FAILED", message: "bpf_object__load: Cannot allocate memory" },
      });
      expect(status("opens").conditions.find((c) => c.type === "Ready")?.message).toMatch(
        /^bpf_object__load: Cannot allocate memory \(failed 1 time\(s\) in a row; trying again in 1 s\)$/,
      );
      await until("two retries", () => loader.loadCalls >= 3);
      expect(status("opens").conditions.find((c) => c.type === "Ready")?.message).toMatch(/failed [2-9] time\(s\) in a row/);
      // A sync with the same spec does not try again at once (only the timer does).
      const calls = loader.loadCalls;
      await agent.sync([desired("opens")]);
      expect(loader.loadCalls).toBe(calls);
      loader.loadError = undefined;
      await until("Running", () => status("opens").phase === "Running");
      expect(await text()).toContain('opens_total{namespace="team-a",ebpfmap="opens",key="1"} 10');
      // Loaded: nothing more is tried.
      const loadedAfter = loader.loadCalls;
      await new Promise((r) => setTimeout(r, 120));
      expect(loader.loadCalls).toBe(loadedAfter);
    });

    it("never retries the spec's faults or a kernel that lacks the feature", async () => {
      loader.loadError = operatorError("EOP_ERR_LOAD_VERIFIER", "R1 invalid mem access");
      await agent.sync([desired("verifier")]);
      loader.loadError = operatorError("EOP_ERR_KERNEL_UNSUPPORTED", "no BPF_PROG_TYPE_KPROBE");
      await agent.sync([desired("verifier"), desired("unsupported")]);
      await new Promise((r) => setTimeout(r, 150));
      expect(loader.loadCalls).toBe(2);
      expect(status("verifier")).toMatchObject({ phase: "Failed", lastError: { code: "EOP_ERR_LOAD_VERIFIER" } });
      expect(status("unsupported").phase).toBe("Unsupported");
    });

    it("retries the latest desired spec, and a removal cancels the pending retry", async () => {
      loader.loadError = operatorError("EOP_ERR_ATTACH_FAILED", "attach: Device or resource busy");
      await agent.sync([desired("opens")]);
      await agent.sync([desired("opens", { code: "int y = 2;" })]);
      loader.loadError = undefined;
      await until("Running", () => status("opens")?.phase === "Running");
      expect(status("opens").objectHash).toBe("obj-10");
      loader.loadError = operatorError("EOP_ERR_ATTACH_FAILED", "attach: Device or resource busy");
      await agent.sync([desired("other")]);
      await agent.sync([]);
      const calls = loader.loadCalls;
      await new Promise((r) => setTimeout(r, 150));
      expect(loader.loadCalls).toBe(calls);
      expect(agent.statuses()).toEqual([]);
    });
  });

  it("refuses a metric name another resource serves with another type, and keeps serving the first", async () => {
    await agent.sync([desired("first")]);
    await agent.sync([desired("first"), desired("second", { prometheusType: "gauge", name: "opens_total" })]);
    expect(status("second")).toMatchObject({ phase: "Failed", lastError: { code: "EOP_ERR_METRIC_CONFLICT" } });
    expect(await text()).toContain('opens_total{namespace="team-a",ebpfmap="first",key="1"} 10');
    // The refused resource's program is not left loaded.
    expect(loader.unloaded).toEqual(["/pins/team-a/second/obj-6"]);
  });

  it("fails a resource whose map is missing, naming the maps the code has, before serving anything", async () => {
    await agent.sync([desired("opens", { map: "typo" })]);
    expect(status("opens")).toMatchObject({ phase: "Failed", lastError: { code: "EOP_ERR_MAP_NOT_FOUND" } });
    expect(status("opens").lastError?.message).toContain('spec.map "typo" is not a map in the code of EbpfMap "team-a/opens" (maps: counts)');
    expect(await text()).not.toContain("opens_total");
  });

  it("removes a resource that is no longer desired: unloaded, its series gone, its status too", async () => {
    await agent.sync([desired("opens")]);
    await agent.sync([]);
    expect(loader.unloaded).toEqual(["/pins/team-a/opens/obj-6"]);
    expect(agent.statuses()).toEqual([]);
    expect(await text()).not.toContain("opens_total");
    expect(notified.at(-1)).toBe("opens:gone");
  });
});
