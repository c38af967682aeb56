/**
 * `/metrics` written as a stream of pieces instead of one string: every family's text is walked
 * piece by piece (the eBPF families render their rows there, as bytes, in bounded steps),
 * written in pieces of up to 64 KiB with back-pressure, yielding to the event loop whenever a
 * 2 ms slice is used up. For 100k series (~10 MiB of text) one joined string and one write
 * blocked the event loop for 20-30 ms. The bytes are what prom-client's `registry.metrics()`
 * prints for the same samples (metrics-stream.test.ts compares them).
 */
import type { Writable } from "node:stream";
import { Slicer } from "../scrape/exposition.js";
import { exposition } from "../scrape/registry-text.js";
import type { RegistryRead } from "../scrape/registry.js";

/** Text pieces (headers, small families) are gathered up to this size before a write. */
const WRITE_BYTES = 64 * 1024;

/**
 * Writes the exposition of `read` to `out` (the response, headers already sent, or a gzip
 * stream in front of it) and ends it: respects back-pressure and yields to the event loop
 * whenever a 2 ms slice is used up. `omitEmpty`: leave out families without samples (a
 * tenant's view). Does not release the read.
 */
export async function writeExposition(read: RegistryRead, out: Writable, omitEmpty = false): Promise<void> {
  const slicer = new Slicer();
  let text = "";
  const write = async (piece: string | Uint8Array): Promise<void> => {
    const ok = out.write(piece);
    if (!ok && !out.destroyed) {
      // Whichever comes first; the other listener goes too (a large body waits for many drains).
      await new Promise<void>((resolve) => {
        const done = (): void => {
          out.off("drain", done).off("close", done);
          resolve();
        };
        out.once("drain", done).once("close", done);
      });
    }
  };
  for (const piece of exposition(read, omitEmpty)) {
    if (out.destroyed) return; // the scraper went away
    if (typeof piece === "string") {
      text += piece;
      if (text.length >= WRITE_BYTES) {
        await write(text);
        text = "";
      }
    } else if (piece.length > 0) {
      if (text !== "") {
        await write(text);
        text = "";
      }
      await write(piece);
    }
    if (slicer.due()) await slicer.pause();
  }
  if (text !== "") await write(text);
  out.end();
}
