/**
 * What `ebpf-agent validate` checks of a resource after the schema: every step of the agent's
 * load that needs no kernel state, by the same code the load runs —
 *
 *   pod scope refused, as the agent does  (refusePodScope)
 *   each program's plugin and target      (the loader's preflight, first step: parseTarget)
 *   the compile                           (the same sandboxed clang and include policy)
 *   the object's pinning values           (pinningViolations, before libbpf opens it)
 *   the named programs in the object      (checkProgramsPresent)
 *   the object against the baseline rules (checkCompiledObject without a policy: programs of
 *                                          mixed privileges, ...)
 *   every metric against its map's types  (planMetrics, with the key and value types from the
 *                                          object's own BTF instead of a created map's)
 *
 * Left to the load is what only the running kernel can answer: whether it has the program type
 * and the target (a function, a tracepoint, an interface), the verifier, and the attach.
 */
import { readFile } from "node:fs/promises";
import { BpfObject, isPerCpuMapType, type MapSpec } from "@ebpf-operator/libbpf";
import type { Desired } from "../api/manifest.js";
import { programsOf } from "../api/programs.js";
import type { BpfCompiler } from "../compiler/index.js";
import type { DecoderRegistry } from "../decoders/registry.js";
import { operatorError } from "../errors.js";
import { inspectObject } from "../inspect/inspect-object.js";
import { ObjectRefusedError, pinningViolations } from "../loader/enforcement.js";
import { checkCompiledObject } from "../loader/planned-programs.js";
import { checkProgramsPresent, isInternalMap, parseTarget, refusePodScope, type PreflightProgram } from "../loader/program-loader.js";
import { metricConfigs } from "../plan/metric-config.js";
import type { MapView } from "../plan/metric-plan.js";
import { planMetrics } from "../plan/plan-metrics.js";
import type { PluginRegistry } from "../plugin/plugin-registry.js";

export interface ResourceCheckDeps {
  registry: PluginRegistry;
  decoders: DecoderRegistry;
  compiler: Pick<BpfCompiler, "compile">;
}

/** Throws the first problem as the agent's load would report it (a coded error naming the field). */
export async function checkResource(desired: Pick<Desired, "ref" | "resource">, deps: ResourceCheckDeps): Promise<void> {
  const { ref, resource } = desired;
  const label = `EbpfMap "${ref.namespace}/${ref.name}"`;
  refusePodScope(deps.registry, resource.spec);
  const planned: Pick<PreflightProgram, "entry">[] = [];
  for (const entry of programsOf(resource.spec)) {
    const { plugin, target } = await parseTarget(deps.registry, entry);
    // Pod scope: the target is relative to each pod (refusePodScope made sure the plugin has podScope).
    if (resource.spec.selector !== undefined) plugin.podScope!.check(entry.type, target);
    planned.push({ entry });
  }
  const compiled = await deps.compiler.compile({ source: resource.spec.code, label: `${ref.namespace}/${ref.name}` });
  // In the load's order: pinning values libbpf cannot open, the programs named, then the rest of
  // what every load is checked against, whatever the policy (which only the cluster knows).
  const bytes = new Uint8Array(await readFile(compiled.objectPath));
  const pinning = pinningViolations(inspectObject(bytes, { source: resource.spec.code }));
  if (pinning.length > 0) throw new ObjectRefusedError(label, pinning);
  let object: BpfObject;
  try {
    object = BpfObject.open({ path: compiled.objectPath });
  } catch (error) {
    throw operatorError("EOP_ERR_LOAD_FAILED", `open the compiled object of ${label}`, error);
  }
  try {
    checkProgramsPresent(object.programs(), planned, label);
    const violations = await checkCompiledObject(deps.registry, resource.spec, bytes, undefined);
    if (violations.length > 0) throw new ObjectRefusedError(label, violations);
    const maps = new Map<string, MapView>();
    for (const spec of object.maps()) if (!isInternalMap(spec.name)) maps.set(spec.name, objectMapView(object, spec));
    planMetrics(metricConfigs(resource.spec), maps, deps.decoders, ref);
  } finally {
    object.close();
  }
}

/** A map as the object declares it, seen as the planner sees a created map. */
function objectMapView(object: BpfObject, spec: MapSpec): MapView {
  const types = object.mapTypes(spec.name);
  return {
    // Not created: no ids. The planner reads the type, the sizes and max_entries, as declared.
    info: {
      id: 0,
      name: spec.name,
      type: spec.type,
      keySize: spec.keySize,
      valueSize: spec.valueSize,
      maxEntries: spec.maxEntries,
      flags: spec.flags,
      btfId: 0,
      btfKeyTypeId: 0,
      btfValueTypeId: 0,
    },
    isPerCpu: isPerCpuMapType(spec.type),
    describeKey: () => types.key,
    describeValue: () => types.value,
  };
}
