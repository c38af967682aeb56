/**
 * Labels from BTF: how a key member is shown when the user configured no decoders. Integers
 * become decimal text, `char` arrays strings, enums their enumerator's name; anything else hex.
 * The decode functions are built once per label when the metric is configured, not per row.
 */
import type { BtfMember, BtfType } from "@ebpf-operator/libbpf";
import { endianness } from "node:os";
import { readUint } from "../decoders/input.js";

export type FieldDecode = (bytes: Buffer) => string;
/** The same text, read in place from `buffer` at `offset` (no Buffer view per row). */
export type FieldDecodeAt = (buffer: Buffer, offset: number) => string;

const LITTLE_ENDIAN = endianness() === "LE";

/** An integer (or enum) the collector can read as a number: 1-8 bytes. */
export function isInteger(type: BtfType | undefined): boolean {
  return (type?.kind === "int" || type?.kind === "enum") && type.size >= 1 && type.size <= 8;
}

export function isSigned(type: BtfType | undefined): boolean {
  return (type?.kind === "int" || type?.kind === "enum") && type.signed;
}

export function isCharArray(type: BtfType): boolean {
  return (
    type.kind === "array" &&
    type.elementType.kind === "int" &&
    type.elementType.size === 1 &&
    (type.elementType.name === "char" || type.elementType.name === "signed char")
  );
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

/**
 * Decimal text of a 1-, 2-, 4- or 8-byte integer read in place; undefined for other sizes. The
 * same text as decodeInteger: numbers below 2^53 in magnitude are printed from a double (exact),
 * larger ones through BigInt.
 */
export function integerTextAt(size: number, signed: boolean): FieldDecodeAt | undefined {
  switch (size) {
    case 1:
      return signed ? (b, o) => String(b.readInt8(o)) : (b, o) => String(b[o]!);
    case 2:
      if (signed) return LITTLE_ENDIAN ? (b, o) => String(b.readInt16LE(o)) : (b, o) => String(b.readInt16BE(o));
      return LITTLE_ENDIAN ? (b, o) => String(b.readUInt16LE(o)) : (b, o) => String(b.readUInt16BE(o));
    case 4:
      if (signed) return LITTLE_ENDIAN ? (b, o) => String(b.readInt32LE(o)) : (b, o) => String(b.readInt32BE(o));
      return LITTLE_ENDIAN ? (b, o) => String(b.readUInt32LE(o)) : (b, o) => String(b.readUInt32BE(o));
    case 8: {
      const loAt = LITTLE_ENDIAN ? 0 : 4;
      const hiAt = LITTLE_ENDIAN ? 4 : 0;
      const TWO_21 = 2097152;
      if (signed) {
        return (b, o) => {
          const hi = LITTLE_ENDIAN ? b.readInt32LE(o + hiAt) : b.readInt32BE(o + hiAt);
          if (hi >= -TWO_21 && hi < TWO_21) return String(hi * 4294967296 + (LITTLE_ENDIAN ? b.readUInt32LE(o + loAt) : b.readUInt32BE(o + loAt)));
          return (LITTLE_ENDIAN ? b.readBigInt64LE(o) : b.readBigInt64BE(o)).toString();
        };
      }
      return (b, o) => {
        const hi = LITTLE_ENDIAN ? b.readUInt32LE(o + hiAt) : b.readUInt32BE(o + hiAt);
        if (hi < TWO_21) return String(hi * 4294967296 + (LITTLE_ENDIAN ? b.readUInt32LE(o + loAt) : b.readUInt32BE(o + loAt)));
        return (LITTLE_ENDIAN ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)).toString();
      };
    }
    default:
      return undefined;
  }
}

/**
 * The in-place form of defaultDecode for the common member types (integers, char arrays), or
 * undefined where defaultDecode is used on a view of the bytes.
 */
export function defaultDecodeAt(type: BtfType): FieldDecodeAt | undefined {
  if (type.kind === "int" && isInteger(type) && !type.bool) return integerTextAt(type.size, type.signed);
  if (isCharArray(type)) {
    const size = type.size;
    return (b, o) => {
      let end = o;
      const limit = o + size;
      while (end < limit && b[end] !== 0) end++;
      return b.toString("utf8", o, end);
    };
  }
  return undefined;
}

/** The in-place form of sizedDecode for 1/2/4/8-byte slices, or undefined. */
export function sizedDecodeAt(size: number): FieldDecodeAt | undefined {
  return integerTextAt(size, false);
}
