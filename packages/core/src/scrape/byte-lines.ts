/**
 * Exposition text written as bytes: sample lines go straight into 64 KiB buffers, numbers as
 * ASCII digits, constant parts (metric name, base labels, label prefixes) copied from bytes
 * encoded once. A 100k-row scrape built several strings per row (label pairs, the line, the
 * joined piece) that the writer then encoded again to UTF-8, and the garbage collector copied
 * them while they were alive: most of the scrape's CPU time and its longest pauses
 * (docs/benchmarks.md). The bytes are the same as `sampleLine` gives (exposition.test.ts).
 *
 * The buffers come from a small pool (`ChunkPool`) and go back to it once the consumer says their
 * bytes are gone (the socket's or gzip's write callback: `writeExposition`). A fresh 64 KiB
 * buffer per piece was ~170 new external buffers per 100k-row scrape (~11 MiB); V8 counts
 * external memory towards its heap limits, so about every scrape ended in a mark-compact
 * collection, 2-9 ms on a quiet machine and twice that on a busy one (docs/architecture.md).
 */
import { formatValue } from "./exposition.js";

/** Bytes per finished piece. */
export const CHUNK_BYTES = 64 * 1024;

/** A zero-length piece: marks a step boundary (the consumer may yield there). */
export const STEP: Uint8Array = new Uint8Array(0);

const MAX_DIGITS = 16; // 2^53 has 16 digits
const NEWLINE = 0x0a;
const EMPTY = Buffer.alloc(0);

/**
 * Buffers of one size, lent out and given back. A buffer may only be given back when nothing
 * holds it or a view of it any more; one never given back is simply collected (a scrape that
 * was cut off). At most `keep` idle buffers are kept.
 */
export class ChunkPool {
  private readonly free: Buffer[] = [];
  /** The memory of every buffer lent and not given back yet: a view of anything else is ignored, and so is a second give. */
  private readonly lent = new WeakSet<ArrayBuffer>();
  /** Buffers allocated so far (tests: a steady state allocates none). */
  allocated = 0;

  constructor(
    readonly chunkBytes = CHUNK_BYTES,
    private readonly keep = 8,
  ) {}

  take(): Buffer {
    // allocUnsafeSlow: a buffer of its own (not a slice of Node's shared pool), so `.buffer` names it.
    let buf = this.free.pop();
    if (buf === undefined) {
      buf = Buffer.allocUnsafeSlow(this.chunkBytes);
      this.allocated++;
    }
    this.lent.add(buf.buffer as ArrayBuffer);
    return buf;
  }

  /** `piece` (a buffer from take() or a view of one) is no longer used by anyone: its buffer may be lent again. */
  give(piece: Uint8Array): void {
    const memory = piece.buffer as ArrayBuffer;
    if (!this.lent.delete(memory)) return;
    if (this.free.length < this.keep) this.free.push(Buffer.from(memory, 0, this.chunkBytes));
  }

  /** Idle buffers kept (tests). */
  get idle(): number {
    return this.free.length;
  }
}

/** The pool of the agent's response bodies. */
export const bodyChunks = new ChunkPool();

/**
 * Lines written as bytes into buffers of the pool's size; a full buffer becomes a piece of whole lines
 * (the line being written moves on to the next buffer), so no piece splits a line or a UTF-8
 * sequence.
 */
export class ByteLines {
  private buf: Buffer;
  private pos = 0;
  /** Where the line being written starts. */
  private lineStart = 0;
  private ready: Buffer[] = [];

  constructor(private readonly pool: ChunkPool = bodyChunks) {
    this.buf = pool.take();
  }

  /** Room for `n` more bytes in the current buffer; a full one is set aside as a piece. */
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const old = this.buf;
    const partial = this.pos - this.lineStart;
    // A line longer than a buffer gets a buffer of its own (not the pool's: give() ignores it).
    this.buf = partial + n <= this.pool.chunkBytes ? this.pool.take() : Buffer.allocUnsafe(partial + n);
    old.copy(this.buf, 0, this.lineStart, this.pos);
    if (this.lineStart > 0) this.ready.push(old.subarray(0, this.lineStart));
    else this.pool.give(old); // nothing finished in it: only the line, now copied
    this.lineStart = 0;
    this.pos = partial;
  }

  /** Ends the line: a newline. */
  endLine(): void {
    this.byte(NEWLINE);
    this.lineStart = this.pos;
  }

  /** Drops what was written of the line since the last endLine(). */
  dropLine(): void {
    this.pos = this.lineStart;
  }

  bytes(b: Uint8Array): void {
    const n = b.length;
    this.room(n);
    if (n <= 32) {
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) buf[p++] = b[i]!;
    } else this.buf.set(b, this.pos);
    this.pos += n;
  }

  /** Bytes `start` to `end` of `b`. */
  slice(b: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.room(n);
    const buf = this.buf;
    let p = this.pos;
    // Short runs (label values): a loop beats a native copy call.
    if (n <= 32) for (let i = start; i < end; i++) buf[p++] = b[i]!;
    else {
      buf.set(b.subarray(start, end), p);
      p += n;
    }
    this.pos = p;
  }

  /** Text of any kind, as UTF-8. */
  text(s: string): void {
    this.room(s.length * 3);
    this.pos += this.buf.write(s, this.pos);
  }

  byte(c: number): void {
    this.room(1);
    this.buf[this.pos++] = c;
  }

  /** A non-negative integer below 2^53, in decimal. */
  uint(n: number): void {
    this.room(MAX_DIGITS);
    const buf = this.buf;
    // The digit count by comparisons: most values are small, and a division costs more.
    let len = 1;
    if (n >= 10) {
      len = 2;
      for (let limit = 100; n >= limit && len < MAX_DIGITS; limit *= 10) len++;
    }
    let p = this.pos + len;
    this.pos = p;
    while (n >= 10) {
      const q = Math.floor(n / 10);
      buf[--p] = 48 + (n - q * 10);
      n = q;
    }
    buf[--p] = 48 + n;
  }

  /** A signed integer of magnitude below 2^53, in decimal. */
  int(n: number): void {
    if (n < 0) {
      this.byte(45);
      this.uint(-n);
    } else this.uint(n);
  }

  /** A sample value as prom-client prints it (`formatValue`). */
  value(v: number): void {
    if (Number.isSafeInteger(v))
      this.int(v); // -0 too: it prints as 0
    else this.text(formatValue(v));
  }

  /** The pieces finished since the last call (none: an empty array). */
  take(): Buffer[] {
    const out = this.ready;
    if (out.length !== 0) this.ready = [];
    return out;
  }

  /** Sets the finished lines aside as a piece (the rest of the buffer is not written again). */
  endPiece(): void {
    if (this.lineStart === 0) return;
    const partial = this.pos - this.lineStart;
    this.ready.push(this.buf.subarray(0, this.lineStart));
    const next = this.pool.take();
    this.buf.copy(next, 0, this.lineStart, this.pos);
    this.buf = next;
    this.lineStart = 0;
    this.pos = partial;
  }

  /**
   * The last piece: the finished lines set aside (take() hands them out), an unfinished line
   * dropped, and a buffer with nothing finished in it given back. Nothing may be written after.
   */
  finish(): void {
    if (this.lineStart > 0) this.ready.push(this.buf.subarray(0, this.lineStart));
    else this.pool.give(this.buf);
    this.buf = EMPTY;
    this.pos = this.lineStart = 0;
  }
}
