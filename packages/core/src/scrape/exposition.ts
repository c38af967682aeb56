/**
 * The Prometheus text exposition (format 0.0.4), written by the agent itself for every family,
 * eBPF or not. It prints exactly what prom-client's `registry.metrics()` prints for the same
 * samples (exposition.test.ts and metrics-stream.test.ts compare both), but it does not depend
 * on prom-client's formatting, which its version range does not promise, and it is written in
 * pieces: for a map of 100k entries, formatting one object per sample in one synchronous loop
 * blocked the event loop for hundreds of milliseconds. eBPF rows are decoded straight into label
 * text (`,name="value"`, escaped once per distinct value) and lines are gathered into chunks.
 */
import { restIfContended } from "./cpu-contention.js";
import type { MetricFamily, Row } from "./family.js";

const NEEDS_ESCAPE = /[\\\n"]/;

/** prom-client's escaping of a label value: backslash, newline, double quote. */
export function escapeLabelValue(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return text;
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** Escaping of metric names and help text: backslash and newline. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** `name="value"` pairs joined by commas, as prom-client prints a labels object. */
export function labelPairs(labels: Readonly<Record<string, string>>): string {
  let out = "";
  for (const name in labels) out += `${out === "" ? "" : ","}${name}="${escapeLabelValue(labels[name]!)}"`;
  return out;
}

/** A sample value as prom-client prints it (including its `Nan`). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "Nan";
  if (!Number.isFinite(value)) return value < 0 ? "-Inf" : "+Inf";
  return `${value}`;
}

/** `# HELP` and `# TYPE` lines of a family, each ending in "\n". */
export function familyHeader(family: Pick<MetricFamily, "name" | "help" | "type">): string {
  const name = escapeHelp(family.name);
  return `# HELP ${name} ${escapeHelp(family.help)}\n# TYPE ${name} ${family.type}\n`;
}

/** One sample line, ending in "\n". `labels` is the text between the braces; "" means none. */
export function sampleLine(name: string, labels: string, value: number): string {
  return `${labels === "" ? name : `${name}{${labels}}`} ${formatValue(value)}\n`;
}

/** The line of a row. */
export function rowLine(row: Row): string {
  return sampleLine(row.name, labelPairs(row.labels), row.value);
}

/**
 * Cooperative time slicing for long loops on the JS thread: `due()` says when the current
 * slice has run for `sliceMs` (ask it every hundred rows or so: it reads the clock);
 * `pause()` then yields to the event loop (setImmediate: I/O and timers run) and starts a new
 * slice. A loop starts with `await Slicer.begin()` (the constructor is private: see there why).
 */
export class Slicer {
  private started = performance.now();

  private constructor(private readonly sliceMs = 2) {}

  /**
   * A slicer whose first slice starts in a check phase of its own. What comes before a sliced
   * loop (a map read, a registry read) resolves wherever it finished: in the poll phase for a
   * read on the thread pool, at the end of a check-phase slice for a sliced one. A first slice
   * started there runs back to back with the next one (the poll phase's, then the check
   * phase's) or with the read's last: 4-5 ms with no timers between them, the longest stall
   * of a quiet 100k scrape (stall probe, 12-01).
   */
  static async begin(sliceMs?: number): Promise<Slicer> {
    const slicer = new Slicer(sliceMs);
    await slicer.pause();
    return slicer;
  }

  due(): boolean {
    return performance.now() - this.started >= this.sliceMs;
  }

  async pause(): Promise<void> {
    // While this thread competes for its CPU, a short sleep first (cpu-contention.ts says why).
    restIfContended();
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.started = performance.now();
  }
}
