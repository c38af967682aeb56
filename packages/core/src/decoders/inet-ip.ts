/**
 * `inet_ip`: a 4-byte IPv4 or 16-byte IPv6 address in network byte order, as text
 * (`10.0.0.1`, `2001:db8::1`, `::ffff:10.0.0.1`). Other lengths become `unknown:0x<hex>`.
 */
import type { CoreDecoder } from "./decoder.js";
import { unknown } from "./input.js";

function ipv4(input: Buffer, offset: number): string {
  return `${input[offset]}.${input[offset + 1]}.${input[offset + 2]}.${input[offset + 3]}`;
}

/** RFC 5952 text: lower case, the longest run (>= 2) of zero groups as `::`. */
function ipv6(input: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(input.readUInt16BE(i));
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) return `::ffff:${ipv4(input, 12)}`;
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const text = groups.map((g) => g.toString(16));
  if (bestLength < 2) return text.join(":");
  return `${text.slice(0, bestStart).join(":")}::${text.slice(bestStart + bestLength).join(":")}`;
}

export const inetIp: CoreDecoder = {
  name: "inet_ip",
  decode(input) {
    if (input.length === 4) return ipv4(input, 0);
    if (input.length === 16) return ipv6(input);
    return unknown(input);
  },
};
