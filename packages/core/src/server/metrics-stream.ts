/**
 * `/metrics` written as a stream of pieces instead of one string: every family's text is walked
 * piece by piece (the eBPF families render their rows there, in bounded steps), gathered into
 * writes of 64 KiB with back-pressure, yielding to the event loop whenever a 2 ms slice is used
 * up. For 100k series (~10 MiB of text) one joined string and one write blocked the event loop
 * for 20-30 ms. The bytes are what prom-client's `registry.metrics()` prints for the same
 * samples (metrics-stream.test.ts compares them).
 */
import type { Writable } from "node:stream";
import { Slicer } from "../scrape/exposition.js";
import { exposition } from "../scrape/registry-text.js";
import type { RegistryRead } from "../scrape/registry.js";

/** Pieces are gathered up to this size before a write: fewer, larger HTTP chunks. */
const WRITE_BYTES = 64 * 1024;

/**
 * Writes the exposition of `read` to `response` (headers already sent): respects back-pressure
 * and yields to the event loop whenever a 2 ms slice is used up. `omitEmpty`: leave out families
 * without samples (a tenant's view).
 */
export async function writeExposition(read: RegistryRead, response: Writable, omitEmpty = false): Promise<void> {
  const slicer = new Slicer();
  let pending = "";
  const flush = async (): Promise<void> => {
    const ok = response.write(pending);
    pending = "";
    if (!ok && !response.destroyed) {
      // Whichever comes first; the other listener goes too (a large body waits for many drains).
      await new Promise<void>((resolve) => {
        const done = (): void => {
          response.off("drain", done).off("close", done);
          resolve();
        };
        response.once("drain", done).once("close", done);
      });
    }
  };
  for (const piece of exposition(read, omitEmpty)) {
    if (response.destroyed) return; // the scraper went away
    pending += piece;
    if (pending.length >= WRITE_BYTES) await flush();
    if (slicer.due()) await slicer.pause();
  }
  if (pending !== "") await flush();
  response.end();
}
