/**
 * `/metrics` written as a stream of pieces instead of one string: every family's text is walked
 * piece by piece (the eBPF families render their rows there, as bytes, in bounded steps),
 * written in pieces of up to 64 KiB with back-pressure, yielding to the event loop whenever a
 * 2 ms slice is used up. For 100k series (~10 MiB of text) one joined string and one write
 * blocked the event loop for 20-30 ms. The bytes are what prom-client's `registry.metrics()`
 * prints for the same samples (metrics-stream.test.ts compares them). Byte pieces are written
 * as they are and their buffers handed back to the body pool once written (scrape/byte-lines.ts).
 */
import type { Writable } from "node:stream";
import { bodyChunks } from "../scrape/byte-lines.js";
import { Slicer } from "../scrape/exposition.js";
import { exposition } from "../scrape/registry-text.js";
import type { RegistryRead } from "../scrape/registry.js";

/** Text pieces (headers, small families) are gathered up to this size before a write. */
const WRITE_BYTES = 64 * 1024;

/**
 * Writes the exposition of `read` to `out` (the response, headers already sent, or a gzip
 * stream in front of it) and ends it: respects back-pressure and yields to the event loop
 * whenever a 2 ms slice is used up. `omitEmpty`: leave out families without samples (a
 * tenant's view). Does not release the read. `out` must be done with a piece's bytes when it
 * calls a write back (sockets and zlib streams are): the buffer is then filled again.
 */
export async function writeExposition(read: RegistryRead, out: Writable, omitEmpty = false): Promise<void> {
  const slicer = await Slicer.begin();
  let text = "";
  const write = async (piece: string | Uint8Array): Promise<void> => {
    // A body piece's buffer goes back to the pool once the socket (or gzip) is done with its
    // bytes: the write's callback, called without an error only when they were consumed.
    const ok =
      typeof piece === "string"
        ? out.write(piece)
        : out.write(piece, (error) => {
            if (!error) bodyChunks.give(piece);
          });
    if (!ok && !out.destroyed) {
      // Whichever comes first; the other listener goes too (a large body waits for many drains).
      await new Promise<void>((resolve) => {
        const done = (): void => {
          out.off("drain", done).off("close", done);
          resolve();
        };
        out.once("drain", done).once("close", done);
      });
      // The drain came in the poll phase of the event loop; going on writing there would add a
      // slice to the one the check phase runs next (the pause's setImmediate), two slices with no
      // timers between them. Resume in the check phase: one slice per loop turn.
      await slicer.pause();
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
