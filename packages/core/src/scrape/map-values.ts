/**
 * Pure helpers to turn raw map bytes into numbers: unsigned integers of 1-8 bytes in host byte
 * order, summed over the per-CPU slots of per-CPU maps.
 */
import { endianness } from "node:os";

const LITTLE_ENDIAN = endianness() === "LE";

export function readUnsigned(buffer: Buffer, offset: number, size: number): number {
  switch (size) {
    case 1:
      return buffer.readUInt8(offset);
    case 2:
      return LITTLE_ENDIAN ? buffer.readUInt16LE(offset) : buffer.readUInt16BE(offset);
    case 4:
      return LITTLE_ENDIAN ? buffer.readUInt32LE(offset) : buffer.readUInt32BE(offset);
    case 8:
      // Prometheus values are float64: beyond 2^53 precision is lost either way. hi * 2^32 is
      // exact, so the one rounding of the sum gives what Number(BigInt) gives, without a BigInt.
      return LITTLE_ENDIAN
        ? buffer.readUInt32LE(offset + 4) * 4294967296 + buffer.readUInt32LE(offset)
        : buffer.readUInt32BE(offset) * 4294967296 + buffer.readUInt32BE(offset + 4);
    default:
      throw new RangeError(`cannot read a ${size}-byte integer`);
  }
}

/** Bytes per CPU slot in a per-CPU value: the kernel aligns each to 8 bytes. */
export function perCpuSlotSize(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}

/** The value at `offset`: for per-CPU maps, the sum over `cpus` slots. */
export function readValue(values: Buffer, offset: number, valueSize: number, perCpu: boolean, cpus: number): number {
  if (!perCpu) return readUnsigned(values, offset, valueSize);
  const slot = perCpuSlotSize(valueSize);
  let sum = 0;
  for (let cpu = 0; cpu < cpus; cpu++) sum += readUnsigned(values, offset + cpu * slot, valueSize);
  return sum;
}

export function isZero(buffer: Buffer, offset: number, size: number): boolean {
  for (let i = offset; i < offset + size; i++) if (buffer[i] !== 0) return false;
  return true;
}

/** A signed or unsigned integer of 1, 2, 4 or 8 bytes in host byte order, as a number. */
export function readInteger(buffer: Buffer, offset: number, size: number, signed: boolean): number {
  if (!signed) return readUnsigned(buffer, offset, size);
  switch (size) {
    case 1:
      return buffer.readInt8(offset);
    case 2:
      return LITTLE_ENDIAN ? buffer.readInt16LE(offset) : buffer.readInt16BE(offset);
    case 4:
      return LITTLE_ENDIAN ? buffer.readInt32LE(offset) : buffer.readInt32BE(offset);
    case 8:
      // As readUnsigned: an exact high word (signed) plus the low word, rounded once.
      return LITTLE_ENDIAN
        ? buffer.readInt32LE(offset + 4) * 4294967296 + buffer.readUInt32LE(offset)
        : buffer.readInt32BE(offset) * 4294967296 + buffer.readUInt32BE(offset + 4);
    default:
      throw new RangeError(`cannot read a ${size}-byte integer`);
  }
}

/** Reads one integer kind at a byte offset. */
export type IntegerReader = (buffer: Uint8Array, offset: number) => number;

/**
 * A reader specialised for one size and signedness, for loops over many rows: the same numbers
 * as readInteger, read from the bytes without Buffer's per-call checks and size switch (the
 * switch and checks were a fifth of a 100k-row render's CPU, --cpu-prof). Callers stay in bounds.
 */
export function integerReader(size: number, signed: boolean): IntegerReader {
  if (!LITTLE_ENDIAN) return (b, at) => readInteger(b as Buffer, at, size, signed);
  switch (size) {
    case 1:
      return signed ? (b, at) => (b[at]! << 24) >> 24 : (b, at) => b[at]!;
    case 2:
      return signed ? (b, at) => ((b[at]! | (b[at + 1]! << 8)) << 16) >> 16 : (b, at) => b[at]! | (b[at + 1]! << 8);
    case 4:
      return signed
        ? (b, at) => b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)
        : (b, at) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
    case 8:
      // hi * 2^32 is exact and the sum is rounded once, as in readUnsigned.
      return signed
        ? (b, at) =>
            (b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24)) * 4294967296 +
            ((b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0)
        : (b, at) =>
            ((b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24)) >>> 0) * 4294967296 +
            ((b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0);
    default:
      throw new RangeError(`cannot read a ${size}-byte integer`);
  }
}
