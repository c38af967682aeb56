/**
 * The kernel program types a resource's programs will be loaded as — what `checkObjectAgainst`
 * needs as its target — worked out without loading anything: the object is opened (parsed) with
 * libbpf and the resource's plugin prepares it exactly as the loader would. Opening needs no
 * privileges and no kernel feature, so the operator can check an object right after compiling.
 */
import { BpfObject } from "@ebpf-operator/libbpf";
import type { EbpfMapSpec } from "../api/schema.js";
import type { CheckTarget } from "../inspect/rules.js";
import type { PluginRegistry } from "../plugin/plugin-registry.js";

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
