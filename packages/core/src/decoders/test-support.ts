/** Helpers for the decoder tests: little-endian integer bytes and decimal-text input. */
export function leBytes(value: bigint | number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let v = BigInt.asUintN(size * 8, BigInt(value));
  for (let i = 0; i < size; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function text(value: string | number | bigint): Buffer {
  return Buffer.from(String(value), "utf8");
}
