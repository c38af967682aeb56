/**
 * The kernel program types a resource's programs (every entry of `spec.programs`, or the flat
 * one) will be loaded as — what `checkObjectAgainst`
 * needs as its target — worked out without loading anything: the object is opened (parsed) with
 * libbpf and the resource's plugin prepares it exactly as the loader would. Opening needs no
 * privileges and no kernel feature, so the operator can check an object right after compiling.
 */
import { BpfObject } from "@ebpf-operator/libbpf";
import { programsOf } from "../api/programs.js";
import type { EbpfMapSpec } from "../api/schema.js";
import { operatorError } from "../errors.js";
import { ObjectFormatError, inspectObject } from "../inspect/inspect-object.js";
import type { CheckTarget, Violation } from "../inspect/rules.js";
import type { PluginRegistry } from "../plugin/plugin-registry.js";
import { objectViolations, pinningViolations, type LoadEnforcement } from "./enforcement.js";

export async function plannedPrograms(
  registry: PluginRegistry,
  spec: Pick<EbpfMapSpec, "type" | "target" | "program" | "programs">,
  bytes: Uint8Array,
): Promise<CheckTarget["attached"]> {
  const entries = programsOf(spec);
  using object = BpfObject.open({ buffer: bytes, name: "planned" });
  const programs = object.programs();
  const present = new Set(programs.map((p) => p.name));
  const wanted = new Set(entries.map((e) => e.program));
  for (const other of programs) if (!wanted.has(other.name)) object.setAutoload(other.name, false);
  // Every program of the resource, each prepared by its own plugin, as the loader does.
  for (const entry of entries) {
    if (!present.has(entry.program)) continue;
    const { plugin } = registry.forType(entry.type);
    const target = await plugin.parseTarget(entry.type, entry.target);
    try {
      await plugin.prepare({ object, programName: entry.program, programType: entry.type, target });
    } catch {
      // A BTF-typed hook resolves its target in this machine's kernel BTF, which need not be the
      // node's: the type set before that step is what is checked here, and the agent checks
      // again with its own kernel before it loads.
    }
  }
  const prepared = object.programs();
  return entries.map((entry) => {
    const p = prepared.find((q) => q.name === entry.program);
    if (p === undefined) return { name: entry.program, type: "unknown" };
    return { name: p.name, type: p.type, attachType: p.expectedAttachType };
  });
}

/**
 * The operator's check of a freshly compiled object, the same the agent makes before it loads
 * (minus the namespace's memory on a node, which only the node knows): the object inspected, its
 * programs typed by the plugin, checked against the enforcement (`enforcementForPolicy` of the
 * namespace's policy). `possibleCpus`: per-CPU maps are counted for this many CPUs (the agent
 * counts its node's). Returns the violations (empty: allowed); throws EOP_ERR_OBJECT_INVALID for
 * an object that cannot be inspected.
 */
export async function checkCompiledObject(
  registry: PluginRegistry,
  spec: Pick<EbpfMapSpec, "type" | "target" | "program" | "programs" | "code">,
  bytes: Uint8Array,
  enforcement: LoadEnforcement | undefined,
  possibleCpus = 1,
): Promise<Violation[]> {
  let report;
  try {
    report = inspectObject(bytes, { source: spec.code });
  } catch (error) {
    if (error instanceof ObjectFormatError) throw operatorError("EOP_ERR_OBJECT_INVALID", `inspect the compiled object: ${error.message}`, error);
    throw error;
  }
  // libbpf cannot open an object with an unknown pinning value: nothing more to plan.
  const pinning = pinningViolations(report);
  if (pinning.length > 0) return pinning;
  return objectViolations(report, enforcement, { attached: await plannedPrograms(registry, spec, bytes), possibleCpus });
}
