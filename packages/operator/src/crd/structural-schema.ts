/**
 * Turns the EbpfMap JSON Schema (TypeBox, draft 7 flavoured) into a Kubernetes *structural*
 * OpenAPI v3 schema for the CRD. Kubernetes accepts only a subset:
 *   - `const` and unions of consts        -> `enum`
 *   - `patternProperties` (TypeBox Record) -> `additionalProperties: { schema }`
 *   - `additionalProperties: false`        -> dropped (the API server prunes and, with kubectl's
 *                                             strict field validation, rejects unknown fields)
 *   - `$id`, `$schema`, TypeBox metadata   -> dropped
 *   - numeric `exclusiveMinimum: n`        -> `minimum: n, exclusiveMinimum: true` (OpenAPI v3)
 *   - `uniqueItems: true`                  -> `x-kubernetes-list-type: set` (the API server
 *                                             refuses uniqueItems: quadratic to check)
 * Anything this converter does not understand throws, so an unsupported schema construct is a
 * build error rather than a CRD the API server silently reads differently.
 */
export type JsonObject = { [key: string]: JsonValue };
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

const PASS_THROUGH = new Set([
  "type",
  "description",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "minItems",
  "maxItems",
  "default",
  "enum",
  "format",
  "required",
  "nullable",
  "minProperties",
  "maxProperties",
  "x-kubernetes-validations",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-int-or-string",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-map-type",
]);
const DROPPED = new Set(["$id", "$schema", "additionalProperties", "title", "examples", "$comment"]);

export function toStructuralSchema(schema: unknown, path = "spec"): JsonObject {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) throw new Error(`${path}: schema must be an object`);
  const input = schema as Record<string, unknown>;
  const out: JsonObject = {};

  if ("const" in input) {
    return { ...passThrough(input, path), type: typeOfConst(input.const, path), enum: [input.const as JsonValue] };
  }
  const union = (input.anyOf ?? input.oneOf) as unknown[] | undefined;
  if (union) {
    if (union.every((member) => isConstSchema(member))) {
      const values = union.map((member) => (member as { const: JsonValue }).const);
      const types = new Set(values.map((v) => typeOfConst(v, path)));
      if (types.size !== 1) throw new Error(`${path}: a union of consts of different types cannot become an enum`);
      return { ...passThrough(input, path), type: [...types][0]!, enum: values };
    }
    // Only `required`-only branches are structural (e.g. "name+map or metrics").
    if (union.every((member) => isRequiredOnly(member))) {
      out.anyOf = union as JsonValue[];
    } else {
      throw new Error(`${path}: anyOf/oneOf with typed branches is not structural`);
    }
  }

  if (input.allOf) {
    // Value validations only: each member is `required`-only or an anyOf of such branches
    // (e.g. "name+map or metrics" and "program+type+target or programs" together).
    const members = input.allOf as unknown[];
    if (!members.every((m) => isRequiredOnly(m) || isRequiredAnyOf(m)))
      throw new Error(`${path}: allOf members must be required-only or anyOf of required-only branches`);
    out.allOf = members as JsonValue[];
  }

  Object.assign(out, passThrough(input, path));
  if (input.properties) {
    const properties: JsonObject = {};
    for (const [name, child] of Object.entries(input.properties as Record<string, unknown>)) {
      properties[name] = toStructuralSchema(child, `${path}.${name}`);
    }
    out.properties = properties;
  }
  if (input.patternProperties) {
    const patterns = Object.values(input.patternProperties as Record<string, unknown>);
    if (patterns.length !== 1) throw new Error(`${path}: only one patternProperties entry can become additionalProperties`);
    out.additionalProperties = toStructuralSchema(patterns[0], `${path}.*`);
  } else if (typeof input.additionalProperties === "object" && input.additionalProperties !== null) {
    out.additionalProperties = toStructuralSchema(input.additionalProperties, `${path}.*`);
  }
  if (input.items) out.items = toStructuralSchema(input.items, `${path}[]`);
  return out;
}

function passThrough(input: Record<string, unknown>, path: string): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(input)) {
    if (key === "exclusiveMinimum" || key === "exclusiveMaximum") {
      // JSON Schema 2019+ numbers become OpenAPI v3's bound + boolean flag.
      if (typeof value === "number") {
        out[key === "exclusiveMinimum" ? "minimum" : "maximum"] = value;
        out[key] = true;
      } else out[key] = value as JsonValue;
    } else if (key === "uniqueItems") {
      if (value === true) out["x-kubernetes-list-type"] = "set";
    } else if (PASS_THROUGH.has(key)) out[key] = value as JsonValue;
    else if (!DROPPED.has(key) && !["properties", "patternProperties", "items", "anyOf", "oneOf", "allOf", "const"].includes(key)) {
      throw new Error(`${path}: schema keyword "${key}" has no structural equivalent`);
    }
  }
  return out;
}

function isConstSchema(member: unknown): boolean {
  return typeof member === "object" && member !== null && "const" in member;
}

function isRequiredOnly(member: unknown): boolean {
  return typeof member === "object" && member !== null && Object.keys(member).every((k) => k === "required");
}

function isRequiredAnyOf(member: unknown): boolean {
  if (typeof member !== "object" || member === null) return false;
  const keys = Object.keys(member);
  const branches = (member as { anyOf?: unknown }).anyOf;
  return keys.length === 1 && Array.isArray(branches) && branches.every((b) => isRequiredOnly(b));
}

function typeOfConst(value: unknown, path: string): string {
  switch (typeof value) {
    case "string":
      return "string";
    case "boolean":
      return "boolean";
    case "number":
      return Number.isInteger(value) ? "integer" : "number";
    default:
      throw new Error(`${path}: const of type ${typeof value} is not supported`);
  }
}
