/**
 * Runtime validation of EbpfMap objects with ajv, from the same schema as the types. Errors
 * name the field (`spec.prometheusType`), what was wrong and what is allowed.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import type { FieldError } from "./field-error.js";
import { checkMetricsSpec } from "./metrics-check.js";
import { checkProgramsSpec } from "./programs.js";
import { EbpfMapSchema, type EbpfMap } from "./schema.js";
import { checkSelector } from "./selector-schema.js";

export type { FieldError };

export type ValidationResult = { ok: true; value: EbpfMap } | { ok: false; errors: FieldError[] };

// strictRequired off: the spec's "flat or metrics" anyOf names properties declared beside it.
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, strictRequired: false });
// A Kubernetes structural-schema marker (decoder options); meaningless to ajv.
ajv.addKeyword({ keyword: "x-kubernetes-preserve-unknown-fields", schemaType: "boolean" });
// CEL rules for the API server; the same rules are checked in TypeScript, with field names
// (api/programs.ts, metrics-check.ts).
ajv.addKeyword({ keyword: "x-kubernetes-validations", schemaType: "array" });
const validateEbpfMap: ValidateFunction = ajv.compile(EbpfMapSchema);

/**
 * Validates (and fills defaults into) a parsed EbpfMap: the schema, then the rules of
 * `spec.metrics` JSON Schema cannot express (see metrics-check.ts). The input is cloned, never
 * mutated.
 */
export function validateEbpfMapObject(input: unknown): ValidationResult {
  const value: unknown = structuredClone(input);
  if (!validateEbpfMap(value)) return { ok: false, errors: formatAjvErrors(validateEbpfMap.errors ?? [], value) };
  const resource = value as EbpfMap;
  const errors = [...checkProgramsSpec(resource.spec), ...checkMetricsSpec(resource.spec), ...checkSelector(resource.spec.selector)];
  return errors.length === 0 ? { ok: true, value: resource } : { ok: false, errors };
}

export function formatFieldErrors(errors: FieldError[]): string {
  return errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join("; ");
}

/** What each of the spec's either-or groups asks for (see `EbpfMapSpecSchema.allOf`). */
const SPEC_ALTERNATIVES: Record<string, string> = {
  "#/properties/spec/allOf/0/anyOf": "set name and map (the flat spec), or metrics",
  "#/properties/spec/allOf/1/anyOf": "set program, type and target (one program), or programs",
};

function pathOf(instancePath: string): string {
  return instancePath
    .split("/")
    .slice(1)
    .map((segment) => segment.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((segment, index) => (/^\d+$/.test(segment) ? `[${segment}]` : index === 0 ? segment : `.${segment}`))
    .join("");
}

function join(base: string, child: string): string {
  return base ? `${base}.${child}` : child;
}

function formatAjvErrors(errors: ErrorObject[], value: unknown): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    const field = pathOf(error.instancePath);
    // The spec's "flat or metrics" and "one program or programs" anyOfs: one message each
    // instead of a missing-field error per branch.
    if (/^#\/properties\/spec\/allOf\/\d+\/anyOf\/\d+\/required$/.test(error.schemaPath)) continue;
    const group = SPEC_ALTERNATIVES[error.schemaPath];
    if (error.keyword === "anyOf" && group) {
      // A flat program spec missing one of its three fields: name the field itself.
      const spec = (value as { spec?: Record<string, unknown> }).spec ?? {};
      const flat = ["program", "type", "target"];
      if (error.schemaPath.endsWith("/1/anyOf") && flat.some((k) => spec[k] !== undefined)) {
        for (const k of flat.filter((k) => spec[k] === undefined))
          out.push({ field: join(field, k), message: "required field is missing (or list the programs in programs)" });
        continue;
      }
      out.push({ field, message: group });
      continue;
    }
    let formatted: FieldError;
    switch (error.keyword) {
      case "required":
        formatted = { field: join(field, String(error.params.missingProperty)), message: "required field is missing" };
        break;
      case "additionalProperties":
        formatted = { field, message: `unknown field "${String(error.params.additionalProperty)}"` };
        break;
      case "const":
        formatted = { field, message: `must be ${JSON.stringify(error.params.allowedValue)}` };
        break;
      case "enum":
        formatted = { field, message: `must be one of ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}` };
        break;
      case "pattern":
        formatted = { field, message: `does not match the pattern ${String(error.params.pattern)}` };
        break;
      case "anyOf": {
        // TypeBox expresses literal unions as anyOf of consts: collect the allowed values.
        const allowed = errors.filter((e) => e.keyword === "const" && e.instancePath === error.instancePath).map((e) => JSON.stringify(e.params.allowedValue));
        formatted = { field, message: allowed.length ? `must be one of ${allowed.join(", ")}` : (error.message ?? "is invalid") };
        break;
      }
      default:
        formatted = { field, message: error.message ?? "is invalid" };
    }
    const key = `${formatted.field}\u0000${formatted.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(formatted);
  }
  // A union's member consts are reported once via anyOf.
  return out.filter((e, _i, all) => !(e.message.startsWith('must be "') && all.some((o) => o.field === e.field && o.message.startsWith("must be one of"))));
}
