/**
 * Verifier rejections as tenants see them: the reason and the source line first, the log's tail
 * after, and no kernel address anywhere. To a loader with CAP_PERFMON the verifier prints the
 * kernel addresses of maps and kernel symbols (`r1 = 0xffff8881...`); in a tenant's status they
 * would hand out where the kernel's heap and text are (KASLR).
 */

export const KERNEL_ADDRESS_PLACEHOLDER = "<kernel-address>";

/** Kernel virtual addresses: x86-64 and arm64 put the kernel at 0xffff8000_00000000 and above. */
const KERNEL_MIN = 0xffff_8000_0000_0000n;
/** Values closer to 2^64 than this are small negative numbers (-1, errnos, bounds), not addresses. */
const KERNEL_MAX = 0xffff_ffff_ff00_0000n;
const HEX = /\b0x([0-9a-fA-F]{16})\b/g;
const BARE_HEX = /\b(ffff[0-9a-f]{12})\b/g;
const DECIMAL = /(?<![\w.])(-?\d{15,20})(?![\w.])/g;

function isKernelAddress(value: bigint): boolean {
  const unsigned = value < 0n ? value + (1n << 64n) : value;
  return unsigned >= KERNEL_MIN && unsigned <= KERNEL_MAX;
}

/** Replaces every kernel address (hex with or without `0x`, or decimal) with a placeholder. */
export function scrubKernelAddresses(text: string): string {
  return text
    .replace(HEX, (match, digits: string) => (isKernelAddress(BigInt(`0x${digits}`)) ? `0x${KERNEL_ADDRESS_PLACEHOLDER}` : match))
    .replace(BARE_HEX, (match, digits: string) => (isKernelAddress(BigInt(`0x${digits}`)) ? KERNEL_ADDRESS_PLACEHOLDER : match))
    .replace(DECIMAL, (match, digits: string) => {
      const value = BigInt(digits);
      return value >= -(1n << 63n) && value < 1n << 64n && isKernelAddress(value) ? KERNEL_ADDRESS_PLACEHOLDER : match;
    });
}

const SUMMARY = /^(processed \d+ insns|verification time|stack depth|max_states_per_insn|-- (BEGIN|END) PROG LOAD LOG|libbpf:)/;
/** `; <source text> @ <file>:<line>` (kernels >= 6.4 name the file and line; older print the text only). */
const SOURCE = /^;\s?(.*?)(?:\s*@\s*(\S+):(\d+))?\s*$/;
const INSTRUCTION = /^(\d+): \(/;

export interface VerifierReport {
  /** The verifier's verdict: its last diagnostic line. */
  reason: string;
  /** The source line the verifier was at, when its log has line info. */
  source?: { file?: string; line?: number; text: string };
  /** The instruction the verifier was at. */
  instruction?: number;
  /** The log's last lines, scrubbed. */
  tail: string[];
}

/** Reads a verifier log (scrubbing it first). `sourceLines` fills the text line info lacks. */
export function analyzeVerifierLog(log: string, options: { tailLines?: number; sourceLines?: readonly string[] } = {}): VerifierReport {
  const lines = scrubKernelAddresses(log)
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== "");
  let reasonAt = lines.length - 1;
  while (reasonAt >= 0 && SUMMARY.test(lines[reasonAt]!)) reasonAt--;
  const report: VerifierReport = { reason: reasonAt >= 0 ? lines[reasonAt]!.trim() : "no reason given", tail: lines.slice(-(options.tailLines ?? 20)) };
  for (let i = reasonAt - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (report.instruction === undefined) {
      const insn = INSTRUCTION.exec(line);
      if (insn) report.instruction = Number(insn[1]);
    }
    if (!line.startsWith(";")) continue;
    const match = SOURCE.exec(line);
    if (!match) continue;
    const lineNumber = match[3] === undefined ? undefined : Number(match[3]);
    if (lineNumber === 0) continue; // compiler-generated code: keep looking for a real line
    let text = (match[1] ?? "").trim();
    if (text === "" && lineNumber !== undefined) text = (options.sourceLines?.[lineNumber - 1] ?? "").trim();
    report.source = { text };
    if (match[2] !== undefined) report.source.file = match[2];
    if (lineNumber !== undefined) report.source.line = lineNumber;
    break;
  }
  return report;
}

/**
 * `<reason> (at program.bpf.c:17: `*v += 1;`)` followed by the log's tail: the reason first, the
 * evidence after, kernel addresses scrubbed.
 */
export function formatVerifierRejection(log: string, options: { tailLines?: number; sourceLines?: readonly string[] } = {}): string {
  const report = analyzeVerifierLog(log, options);
  let message = report.reason;
  const where: string[] = [];
  if (report.source?.file !== undefined && report.source.line !== undefined) where.push(`${report.source.file}:${report.source.line}`);
  if (report.source?.text) where.push(`\`${report.source.text}\``);
  if (where.length > 0) message += ` (at ${where.join(": ")})`;
  if (report.tail.length > 0) message += `\nverifier log (last ${report.tail.length} lines):\n${report.tail.join("\n")}`;
  return message;
}
