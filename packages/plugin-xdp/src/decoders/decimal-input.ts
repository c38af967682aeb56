/**
 * The input rule of this package's decoders (`xdp_action`, `l3_proto`, `ip_proto`), the same as
 * core's text decoders (`syscall`, `errno`): decimal ASCII text, which is what core's `uint`
 * decoder makes of a key field's raw bytes — chain them as `uint` then `ip_proto`. Raw bytes are
 * not guessed at: a 2-byte key could be the text "17" or the number 0x3731.
 */

/** The integer `input` spells in decimal (`"17"`, `"-1"`), or undefined when it is not one. */
export function readDecimal(input: Buffer): bigint | undefined {
  if (input.length === 0 || input.length > 24) return undefined;
  const text = input.toString("latin1");
  return /^-?[0-9]+$/.test(text) ? BigInt(text) : undefined;
}

/**
 * Looks decimal-text input up in a number → name table: the name, else `unknown:<n>` (or
 * `unknownLabel(n)`), else `unknown:0x<hex>` for input that is not decimal text.
 */
export function lookupDecimal(input: Buffer, table: ReadonlyMap<number, string>, unknownLabel: (n: bigint) => string = (n) => `unknown:${n}`): string {
  const value = readDecimal(input);
  if (value === undefined) return `unknown:0x${input.toString("hex")}`;
  const name = value >= 0n && value <= 0xffffffffn ? table.get(Number(value)) : undefined;
  return name ?? unknownLabel(value);
}
