/**
 * Shared input handling for decoders: host-endian unsigned integers of 1-8 bytes, decimal text
 * produced by `uint`/`int` earlier in a chain, and the `unknown:<n>` fallback.
 */
import { endianness } from "node:os";

export const HOST_LITTLE_ENDIAN = endianness() === "LE";

/** An unsigned integer of 1-8 bytes, or undefined for other lengths. */
export function readUint(input: Buffer, littleEndian = HOST_LITTLE_ENDIAN): bigint | undefined {
  const size = input.length;
  if (size < 1 || size > 8) return undefined;
  let value = 0n;
  for (let i = 0; i < size; i++) {
    const byte = input[littleEndian ? size - 1 - i : i]!;
    value = (value << 8n) | BigInt(byte);
  }
  return value;
}

/** The integer written as decimal text (`"59"`, `"-2"`) in `input`, or undefined. */
export function parseDecimal(input: Buffer): bigint | undefined {
  if (input.length === 0 || input.length > 24) return undefined;
  const text = input.toString("latin1");
  if (!/^-?[0-9]+$/.test(text)) return undefined;
  return BigInt(text);
}

/** The readable fallback for an input a decoder cannot name. */
export function unknown(input: Buffer): string {
  const n = parseDecimal(input);
  if (n !== undefined) return `unknown:${n}`;
  return `unknown:0x${input.toString("hex")}`;
}

/** A small-integer from decimal text, or undefined beyond the safe range. */
export function parseSmallInt(input: Buffer): number | undefined {
  const n = parseDecimal(input);
  if (n === undefined || n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) return undefined;
  return Number(n);
}
