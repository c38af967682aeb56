/**
 * The samples remote-write sends: the rows of the same registry read `/metrics` renders, stamped
 * with one gather time. Rows come from the families themselves (no text is rendered or parsed),
 * walked in bounded steps with 2 ms slices as `/metrics` is.
 */
import { Slicer } from "../scrape/exposition.js";
import type { Row } from "../scrape/family.js";
import type { RegistryRead } from "../scrape/registry.js";
import type { TimeSeries } from "./write-request.js";

/**
 * One row as a remote-write series. `extraLabels` (job, instance) are added where the row has no
 * label of that name: its own labels win, as with `honor_labels`.
 */
export function rowSeries(row: Row, timestampMs: number, extraLabels: Readonly<Record<string, string>>): TimeSeries {
  return { labels: { ...extraLabels, ...row.labels, __name__: row.name }, samples: [{ value: row.value, timestampMs }] };
}

/** Reads every family (`read`) and turns its rows into series. */
export async function gatherSeries(read: () => Promise<RegistryRead>, extraLabels: Readonly<Record<string, string>>): Promise<TimeSeries[]> {
  const whole = await read();
  const timestampMs = Date.now();
  const series: TimeSeries[] = [];
  try {
    const slicer = await Slicer.begin();
    for (const { read: values } of whole.families) {
      for (const batch of values.rows()) {
        for (const row of batch) series.push(rowSeries(row, timestampMs, extraLabels));
        if (slicer.due()) await slicer.pause();
      }
    }
  } finally {
    whole.release?.();
  }
  return series;
}
