/**
 * The kernel program types a resource's programs will be loaded as — what `checkObjectAgainst`
 * needs as its target — worked out without loading anything: the object is opened (parsed) with
 * libbpf and the resource's plugin prepares it exactly as the loader would. Opening needs no
 * privileges and no kernel feature, so the operator can check an object right after compiling.
 */
import { BpfObject } from "@ebpf-operator/libbpf";
import type { EbpfMapSpec } from "../api/schema.js";
import { operatorError } from "../errors.js";
import { ObjectFormatError, inspectObject } from "../inspect/inspect-object.js";
import type { CheckTarget, Violation } from "../inspect/rules.js";
import type { PluginRegistry } from "../plugin/plugin-registry.js";
import { objectViolations, type LoadEnforcement } from "./enforcement.js";

export async function plannedPrograms(
  registry: PluginRegistry,
  spec: Pick<EbpfMapSpec, "type" | "target" | "program">,
  bytes: Uint8Array,
): Promise<CheckTarget["attached"]> {
  const { plugin } = registry.forType(spec.type);
  const target = await plugin.parseTarget(spec.type, spec.target);
  using object = BpfObject.open({ buffer: bytes, name: "planned" });
  const programs = object.programs();
  if (!programs.some((p) => p.name === spec.program)) return [{ name: spec.program, type: "unknown" }];
  for (const other of programs) if (other.name !== spec.program) object.setAutoload(other.name, false);
  await plugin.prepare({ object, programName: spec.program, programType: spec.type, target });
  const entry = object.programs().find((p) => p.name === spec.program)!;
  return [{ name: entry.name, type: entry.type, attachType: entry.expectedAttachType }];
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
  spec: Pick<EbpfMapSpec, "type" | "target" | "program" | "code">,
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
  return objectViolations(report, enforcement, { attached: await plannedPrograms(registry, spec, bytes), possibleCpus });
}
