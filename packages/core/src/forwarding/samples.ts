/**
 * The samples remote-write sends: the registry's text exposition — the very bytes `/metrics`
 * serves — parsed back into series stamped with one gather time. Going through the text (rather
 * than prom-client's JSON form) keeps remote-write independent of how the collector hands its
 * families to the registry, and makes "the same samples as /metrics" true by construction.
 */
import type { Registry } from "prom-client";
import { Slicer } from "../scrape/exposition.js";
import { exposition } from "../server/metrics-stream.js";
import type { TimeSeries } from "./write-request.js";

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/**
 * Parses Prometheus text format 0.0.4 sample lines (comments skipped). `extraLabels` (job,
 * instance) are added where a sample has no label of that name: its own labels win, as with
 * `honor_labels`. Throws on a malformed line, naming it.
 */
export function parseExposition(text: string, timestampMs: number, extraLabels: Readonly<Record<string, string>> = {}): TimeSeries[] {
  const out: TimeSeries[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const parsed = parseLine(line);
    if (!parsed) throw new Error(`unparsable exposition line: ${line.slice(0, 200)}`);
    out.push({ labels: { ...extraLabels, ...parsed.labels, __name__: parsed.name }, samples: [{ value: parsed.value, timestampMs }] });
  }
  return out;
}

function parseLine(line: string): { name: string; labels: Record<string, string>; value: number } | undefined {
  const name = NAME.exec(line)?.[0];
  if (!name) return undefined;
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === "{") {
    i++;
    while (line[i] !== "}") {
      const labelName = LABEL_NAME.exec(line.slice(i))?.[0];
      if (!labelName || line[i + labelName.length] !== "=" || line[i + labelName.length + 1] !== '"') return undefined;
      i += labelName.length + 2;
      let value = "";
      for (; i < line.length && line[i] !== '"'; i++) {
        if (line[i] !== "\\") {
          value += line[i];
          continue;
        }
        const next = line[++i];
        value += next === "n" ? "\n" : next; // \\ and \" stand for themselves
      }
      if (i >= line.length) return undefined;
      labels[labelName] = value;
      i++; // closing quote
      if (line[i] === ",") i++;
      else if (line[i] !== "}") return undefined;
    }
    i++;
  }
  if (line[i] !== " ") return undefined;
  const value = parseValue(line.slice(i + 1).split(" ")[0]!);
  return value === undefined ? undefined : { name, labels, value };
}

function parseValue(text: string): number | undefined {
  if (/^[+-]?inf$/i.test(text)) return text.startsWith("-") ? -Infinity : Infinity;
  if (/^nan$/i.test(text)) return NaN;
  const value = Number(text);
  return text !== "" && !Number.isNaN(value) ? value : undefined;
}

/**
 * Reads the maps (`refresh`), renders the registry in the pieces `/metrics` streams, and parses
 * them piece by piece (every piece ends at a line end), yielding to the event loop between
 * pieces as `/metrics` does: no step handles the whole exposition at once.
 */
export async function gatherSeries(registry: Registry, refresh: () => Promise<void>, extraLabels: Readonly<Record<string, string>>): Promise<TimeSeries[]> {
  await refresh();
  const timestampMs = Date.now();
  const series: TimeSeries[] = [];
  const slicer = new Slicer();
  for await (const piece of exposition(registry)) {
    for (const one of parseExposition(piece, timestampMs, extraLabels)) series.push(one);
    if (slicer.due()) await slicer.pause();
  }
  return series;
}
