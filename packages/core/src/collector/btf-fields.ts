/**
 * Labels from BTF: how a key member is shown when the user configured no decoders. Integers
 * become decimal text, `char` arrays strings, enums their enumerator's name; anything else hex.
 * The decode functions are built once per label when the metric is configured, not per row.
 */
import type { BtfMember, BtfType } from "@ebpf-operator/libbpf";
import { readUint } from "../decoders/input.js";

export type FieldDecode = (bytes: Buffer) => string;

/** An integer (or enum) the collector can read as a number: 1-8 bytes. */
export function isInteger(type: BtfType | undefined): boolean {
  return (type?.kind === "int" || type?.kind === "enum") && type.size >= 1 && type.size <= 8;
}

export function isSigned(type: BtfType | undefined): boolean {
  return (type?.kind === "int" || type?.kind === "enum") && type.signed;
}

function isCharArray(type: BtfType): boolean {
  return type.kind === "array" && type.elementType.kind === "int" && type.elementType.size === 1 && (type.elementType.name === "char" || type.elementType.name === "signed char");
}

/** A C-like spelling for messages: `unsigned int`, `char[16]`, `struct key`. */
export function typeName(type: BtfType): string {
  switch (type.kind) {
    case "array":
      return `${typeName(type.elementType)}[${type.length}]`;
    case "struct":
    case "union":
    case "enum":
      return `${type.kind} ${type.name || "(anonymous)"}`;
    case "pointer":
      return "pointer";
    default:
      return type.name || type.kind;
  }
}

/** `comm (char[16]), bucket (unsigned int)`: the members a message can offer. */
export function memberList(members: readonly BtfMember[]): string {
  return members.map((m) => `${m.name || "(anonymous)"} (${typeName(m.type)})`).join(", ");
}

export function decodeInteger(bytes: Buffer, signed: boolean): string {
  const value = readUint(bytes);
  if (value === undefined) return `0x${bytes.toString("hex")}`;
  return (signed ? BigInt.asIntN(bytes.length * 8, value) : value).toString();
}

/** The default label text for a field of `type`. */
export function defaultDecode(type: BtfType): FieldDecode {
  if (type.kind === "int" && isInteger(type)) {
    if (type.bool) return (bytes) => (bytes.some((b) => b !== 0) ? "true" : "false");
    const signed = type.signed;
    return (bytes) => decodeInteger(bytes, signed);
  }
  if (type.kind === "enum" && isInteger(type)) {
    const names = new Map(type.values.map((v) => [v.value, v.name]));
    const signed = type.signed;
    return (bytes) => {
      const raw = readUint(bytes)!;
      const value = signed ? BigInt.asIntN(bytes.length * 8, raw) : raw;
      return names.get(value) ?? `unknown:${value}`;
    };
  }
  if (isCharArray(type)) {
    return (bytes) => {
      const end = bytes.indexOf(0);
      return bytes.toString("utf8", 0, end === -1 ? bytes.length : end);
    };
  }
  return (bytes) => `0x${bytes.toString("hex")}`;
}

/** The default label text for key bytes cut by size (no BTF type): integers as decimal. */
export function sizedDecode(size: number): FieldDecode {
  return size >= 1 && size <= 8 && (size & (size - 1)) === 0 ? (bytes) => decodeInteger(bytes, false) : (bytes) => `0x${bytes.toString("hex")}`;
}
