/**
 * String ⇄ enum mapping for program, attach, map and link types. The names come from libbpf
 * itself (`libbpf_bpf_*_type_str` scanned over the enum values), so they always match what the
 * installed libbpf understands.
 */
import { native } from "./native.js";
import type { EnumKind } from "./native.js";

const LABELS: Record<EnumKind, string> = {
  prog: "program type",
  attach: "attach type",
  map: "map type",
  link: "link type",
};

const tables = new Map<EnumKind, string[]>();

/** All names libbpf knows for `kind`, indexed by enum value. */
export function enumNames(kind: EnumKind): readonly string[] {
  let t = tables.get(kind);
  if (t === undefined) {
    t = native().enumNames(kind);
    tables.set(kind, t);
  }
  return t;
}

/** The enum value for a libbpf type name; throws a TypeError naming it (and the valid names). */
export function enumValue(kind: EnumKind, name: string): number {
  const names = enumNames(kind);
  const i = typeof name === "string" && name !== "" ? names.indexOf(name) : -1;
  if (i < 0) {
    throw new TypeError(`unknown ${LABELS[kind]} ${JSON.stringify(name)}; libbpf knows: ${names.filter((n) => n !== "").join(", ")}`);
  }
  return i;
}
