/**
 * The text exposition of eBPF families, written by the collector itself rather than by
 * prom-client's per-sample formatter: for a map of 100k entries, building one object per sample
 * and formatting it in one synchronous loop blocked the event loop for hundreds of milliseconds.
 * Here rows are decoded straight into label text (`,name="value"`, escaped once per distinct
 * value), lines are built in chunks, and the work yields to the event loop every few
 * milliseconds (see Slicer).
 *
 * The registry still prints the family (HELP, TYPE, the order of families, the content type):
 * each chunk of finished lines is handed to it as one value whose `metricName` is the chunk's
 * text up to the last line's value, with no labels — prom-client prints `${metricName} ${value}`
 * for such a value, so the output is byte for byte what it would print for the samples one by
 * one. This holds for the Prometheus text format with no default labels, which is how the
 * agent's registry is built (exposition.test.ts compares both renderings).
 */
import type { PromValue } from "./plan-rows.js";

const NEEDS_ESCAPE = /[\\\n"]/;

/** prom-client's escaping of a label value: backslash, newline, double quote. */
export function escapeLabelValue(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return text;
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** `name="value"` pairs joined by commas, as prom-client prints a labels object. */
export function labelPairs(labels: Readonly<Record<string, string>>): string {
  let out = "";
  for (const [name, value] of Object.entries(labels)) out += `${out === "" ? "" : ","}${name}="${escapeLabelValue(value)}"`;
  return out;
}

/** A sample value as prom-client prints it (including its `Nan`). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "Nan";
  if (!Number.isFinite(value)) return value < 0 ? "-Inf" : "+Inf";
  return `${value}`;
}

/** Lines per chunk handed to the registry. */
const CHUNK_LINES = 2048;

/**
 * Collects exposition lines (`name{labels} value`) into chunks the registry prints verbatim.
 * `labels` is the text between the braces without them; empty means no braces.
 */
export class LineWriter {
  readonly chunks: PromValue[] = [];
  private lines: string[] = [];
  private lastPrefix: string | undefined;
  private lastValue = 0;

  add(metricName: string, labels: string, value: number): void {
    if (this.lastPrefix !== undefined) {
      // The pending line ends the chunk when it is full, else it joins the chunk's lines.
      if (this.lines.length >= CHUNK_LINES - 1) this.flush();
      else this.lines.push(`${this.lastPrefix} ${formatValue(this.lastValue)}`);
    }
    this.lastPrefix = labels === "" ? metricName : `${metricName}{${labels}}`;
    this.lastValue = value;
  }

  /** The chunks, every line included. */
  finish(): PromValue[] {
    this.flush();
    return this.chunks;
  }

  private flush(): void {
    if (this.lastPrefix === undefined) return;
    const head = this.lines.length === 0 ? "" : `${this.lines.join("\n")}\n`;
    this.chunks.push({ metricName: head + this.lastPrefix, labels: {}, value: this.lastValue });
    this.lines = [];
    this.lastPrefix = undefined;
  }
}

/**
 * Cooperative time slicing for long loops on the JS thread: `due()` says when the current
 * slice has run for `sliceMs` (ask it every hundred rows or so: it reads the clock);
 * `pause()` then yields to the event loop (setImmediate: I/O and timers run) and starts a new
 * slice.
 */
export class Slicer {
  private started = performance.now();

  constructor(private readonly sliceMs = 2) {}

  due(): boolean {
    return performance.now() - this.started >= this.sliceMs;
  }

  async pause(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.started = performance.now();
  }
}

/** Runs a step generator to its end, pausing whenever the slicer says the slice is over. */
export async function runSliced(steps: Iterator<unknown>, slicer: Slicer): Promise<void> {
  for (;;) {
    if (steps.next().done) return;
    if (slicer.due()) await slicer.pause();
  }
}

/** Runs a step generator to its end at once. */
export function runAtOnce(steps: Iterator<unknown>): void {
  while (!steps.next().done);
}
