/** For tests only: the raw bytes of a function of an inspected object. */
import { codeOf, type ObjectReport } from "./inspect-object.js";

export function importCode(report: ObjectReport, name: string): Uint8Array {
  const fc = codeOf(report)?.get(name);
  if (fc === undefined) throw new Error(`no code for ${name}`);
  return fc.bytes;
}
