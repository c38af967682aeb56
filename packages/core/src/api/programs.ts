/**
 * The programs of a resource, whichever way the spec writes them: the seed's flat
 * `program`/`type`/`target` (one program) or `programs[]` (several, sharing one object and its
 * maps). Everything that acts per program — the loader, the operator's checks, a tenancy policy —
 * reads `programsOf(spec)`, so a resource is always a plain list of (program, type, target).
 */
import type { EbpfMapSpec, ProgramEntry } from "./schema.js";
import type { FieldError } from "./field-error.js";

export interface ResourceProgram extends ProgramEntry {
  /** Where the entry is written, for messages: `spec` (flat) or `spec.programs[1]`. */
  field: string;
}

/** The resource's programs in spec order; empty only for a spec the schema refuses. */
export function programsOf(spec: Pick<EbpfMapSpec, "program" | "type" | "target" | "programs">): ResourceProgram[] {
  if (spec.programs) return spec.programs.map((p, i) => ({ program: p.program, type: p.type, target: p.target, field: `spec.programs[${i}]` }));
  if (spec.program === undefined || spec.type === undefined || spec.target === undefined) return [];
  return [{ program: spec.program, type: spec.type, target: spec.target, field: "spec" }];
}

/** `spec.target` or `spec.programs[1].target`: the field of one of a program's settings. */
export function programField(program: Pick<ResourceProgram, "field">, key: "program" | "type" | "target"): string {
  return `${program.field}.${key}`;
}

/** Names the programs for default HELP texts: `kprobe program count_execve` (one, as ever). */
export function describePrograms(spec: Pick<EbpfMapSpec, "program" | "type" | "target" | "programs">): string {
  const programs = programsOf(spec);
  if (programs.length === 1) return `${programs[0]!.type} program ${programs[0]!.program}`;
  return `programs ${programs.map((p) => `${p.program} (${p.type})`).join(", ")}`;
}

/** Rules of the two forms that JSON Schema cannot say clearly: no mixing, no program twice. */
export function checkProgramsSpec(spec: EbpfMapSpec): FieldError[] {
  const errors: FieldError[] = [];
  if (spec.programs) {
    for (const key of ["program", "type", "target"] as const) {
      if (spec[key] !== undefined)
        errors.push({ field: `spec.${key}`, message: "set program, type and target for one program, or programs for several, not both" });
    }
    const seen = new Map<string, number>();
    spec.programs.forEach((p, i) => {
      const first = seen.get(p.program);
      if (first !== undefined) {
        errors.push({
          field: `spec.programs[${i}].program`,
          message: `program "${p.program}" is already attached by spec.programs[${first}]; a loaded program attaches to one hook here (call a shared static function from two programs instead)`,
        });
      } else seen.set(p.program, i);
    });
  }
  return errors;
}
