/**
 * `/metrics` written as a stream of pieces instead of one string.
 *
 * prom-client's `registry.metrics()` joins the whole exposition into one string, and writing it
 * encodes it in one go: for 100k series (~10 MiB of text) that single synchronous stretch blocked
 * the event loop for 20-30 ms, after the collector had carefully rendered the samples in 2 ms
 * slices. Here the registry's metrics are walked in its order; the collector's eBPF families
 * (marked `chunked`: their values are chunks of finished lines, see scrape/exposition.ts) are
 * written chunk by chunk, every other metric is rendered by prom-client as usual
 * (`getSingleMetricAsString`). The bytes are the same as `registry.metrics()` would return for the
 * Prometheus text format (metrics-stream.test.ts compares them).
 */
import type { Writable } from "node:stream";
import type { Registry } from "prom-client";
import { Slicer, formatValue } from "../scrape/exposition.js";
import type { PromValue } from "../scrape/plan-rows.js";

/** A registry metric whose values are chunks of exposition lines with no labels of their own. */
export interface ChunkedMetric {
  readonly chunked: true;
  readonly name: string;
  get(): Promise<{ name: string; help: string; type: string; values: PromValue[] }>;
}

function isChunked(metric: unknown): metric is ChunkedMetric {
  return typeof metric === "object" && metric !== null && (metric as { chunked?: unknown }).chunked === true;
}

/** prom-client's escaping of metric names and help text: backslash and newline. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/**
 * The exposition of `registry` in pieces, in the order and with the separators of
 * `registry.metrics()` (metrics separated by a blank line, a final newline).
 */
export async function* exposition(registry: Registry): AsyncGenerator<string> {
  const metrics = registry.getMetricsAsArray();
  if (metrics.length === 0) yield "\n"; // what registry.metrics() answers for no metrics
  for (let i = 0; i < metrics.length; i++) {
    const metric: unknown = metrics[i];
    const separator = i === metrics.length - 1 ? "\n" : "\n\n";
    if (!isChunked(metric)) {
      yield (await registry.getSingleMetricAsString(metrics[i]!.name)) + separator;
      continue;
    }
    const family = await metric.get();
    const name = escapeHelp(family.name);
    let piece = `# HELP ${name} ${escapeHelp(family.help)}\n# TYPE ${name} ${family.type}`;
    for (const chunk of family.values) {
      yield piece + "\n";
      piece = `${chunk.metricName ?? name} ${formatValue(chunk.value)}`;
    }
    yield piece + separator;
  }
}

/** Pieces are gathered up to this size before a write: fewer, larger HTTP chunks. */
const WRITE_BYTES = 64 * 1024;

/**
 * Writes the exposition of `registry` to `response` (headers already sent): respects
 * back-pressure and yields to the event loop whenever a 2 ms slice is used up.
 */
export async function writeExposition(registry: Registry, response: Writable): Promise<void> {
  const slicer = new Slicer();
  let pending = "";
  const flush = async (): Promise<void> => {
    const ok = response.write(pending);
    pending = "";
    if (!ok && !response.destroyed) await new Promise<void>((resolve) => response.once("drain", resolve).once("close", resolve));
  };
  for await (const piece of exposition(registry)) {
    if (response.destroyed) return; // the scraper went away
    pending += piece;
    if (pending.length >= WRITE_BYTES) await flush();
    if (slicer.due()) await slicer.pause();
  }
  if (pending !== "") await flush();
  response.end();
}
