import { describe, expect, it } from "vitest";
import { ByteLines, ChunkPool, STEP } from "./byte-lines.js";
import { formatValue } from "./exposition.js";

const text = (pieces: Uint8Array[]): string => Buffer.concat(pieces).toString("utf8");

describe("ByteLines", () => {
  it("prints numbers as formatValue does", () => {
    const values = [
      0,
      -0,
      1,
      9,
      10,
      99,
      100,
      4294967295,
      4294967296,
      2 ** 53 - 1,
      -(2 ** 53 - 1),
      -7,
      2 ** 53,
      2 ** 64,
      1.5,
      -0.25,
      1e21,
      NaN,
      Infinity,
      -Infinity,
    ];
    const out = new ByteLines();
    for (const v of values) {
      out.value(v);
      out.endLine();
    }
    out.endPiece();
    expect(text(out.take())).toBe(values.map((v) => `${formatValue(v)}\n`).join(""));
  });

  it("prints every digit count: each power of ten, one below it, and 2^53 - 1", () => {
    const values = [0, 1, 9];
    for (let p = 10; p <= 1e15; p *= 10) values.push(p - 1, p, p + 1);
    values.push(2 ** 53 - 1, -(2 ** 53 - 1), -10, -99);
    const out = new ByteLines();
    for (const v of values) {
      out.int(v);
      out.endLine();
    }
    out.endPiece();
    expect(text(out.take())).toBe(values.map((v) => `${v}\n`).join(""));
  });

  it("hands out whole lines per piece, also when a line does not fit the rest of a buffer", () => {
    const out = new ByteLines(new ChunkPool(64));
    const lines: string[] = [];
    const pieces: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const line = `m{k="${"é".repeat(i % 40)}"} `;
      out.text(line);
      out.uint(i);
      out.endLine();
      lines.push(`${line}${i}\n`);
      pieces.push(...out.take());
    }
    out.text("dropped");
    out.dropLine();
    out.endPiece();
    pieces.push(...out.take());
    expect(pieces.length).toBeGreaterThan(10);
    for (const piece of pieces) expect(piece.toString("utf8").endsWith("\n")).toBe(true);
    expect(text(pieces)).toBe(lines.join(""));
    expect(STEP.length).toBe(0);
  });

  it("writes into buffers given back to its pool: a steady state allocates none", () => {
    const pool = new ChunkPool(256, 4);
    const expected: string[] = [];
    const got: string[] = [];
    for (let round = 0; round < 3; round++) {
      const out = new ByteLines(pool);
      for (let i = 0; i < 500; i++) {
        out.text(`m{k="${round}"} `);
        out.uint(i);
        out.endLine();
        expected.push(`m{k="${round}"} ${i}\n`);
        for (const piece of out.take()) {
          got.push(Buffer.from(piece).toString());
          pool.give(piece); // consumed: the buffer may be written again
        }
      }
      out.finish();
      for (const piece of out.take()) {
        got.push(Buffer.from(piece).toString());
        pool.give(piece);
      }
    }
    expect(got.join("")).toBe(expected.join(""));
    expect(got.length).toBeGreaterThan(50);
    expect(pool.allocated).toBeLessThanOrEqual(2); // the buffer being written and the one just handed out
  });
});

describe("ChunkPool", () => {
  it("lends a buffer again only once it was given back, by itself or a view of it, once", () => {
    const pool = new ChunkPool(64, 2);
    const a = pool.take();
    const b = pool.take();
    expect(a.buffer).not.toBe(b.buffer);
    pool.give(a.subarray(3, 10));
    pool.give(a); // a second give: ignored, or a would be lent twice
    pool.give(Buffer.alloc(64)); // not the pool's
    expect(pool.idle).toBe(1);
    const c = pool.take();
    expect(c.buffer).toBe(a.buffer);
    expect(pool.take().buffer).not.toBe(a.buffer);
    expect(pool.allocated).toBe(3);
  });

  it("keeps at most `keep` idle buffers", () => {
    const pool = new ChunkPool(64, 2);
    const lent = [pool.take(), pool.take(), pool.take()];
    for (const b of lent) pool.give(b);
    expect(pool.idle).toBe(2);
  });
});
