import { describe, expect, it } from "vitest";
import { bucketLayout, upperBound } from "../plan/histogram.js";
import { bucketPosition, formatLe, histogramSeries } from "./histogram-series.js";

describe("upperBound", () => {
  it.each([
    ["exp2", 0, 1, 1],
    ["exp2", 1, 1, 2],
    ["exp2", 10, 1, 1024],
    ["exp2", 64, 1, 2 ** 64],
    ["exp2", 3, 1e-9, 8e-9],
    ["exp2zero", 0, 1, 0],
    ["exp2zero", 1, 1, 1],
    ["exp2zero", 4, 1, 8],
    ["linear", 0, 10, 0],
    ["linear", 3, 10, 30],
  ] as const)("%s bucket %i with multiplier %d is <= %d", (type, index, multiplier, bound) => {
    expect(upperBound(type, index, multiplier)).toBe(bound);
  });
});

describe("bucketLayout", () => {
  it("lists exp2 buckets from bucketMin to bucketMax with the sum at bucketMax+1", () => {
    expect(bucketLayout({ bucketType: "exp2", bucketMin: 2, bucketMax: 4 })).toEqual({ indexes: [2, 3, 4], bounds: [4, 8, 16], sumIndex: 5, sumScale: 1 });
  });
  it("sorts fixed keys and has no sum key", () => {
    expect(bucketLayout({ bucketType: "fixed", bucketKeys: [100, 10, 50], bucketMultiplier: 0.001 })).toEqual({
      indexes: [10, 50, 100],
      bounds: [0.01, 0.05, 0.1],
      sumIndex: undefined,
      sumScale: 0.001,
    });
  });
});

describe("bucketPosition", () => {
  const exp2 = bucketLayout({ bucketType: "exp2", bucketMin: 2, bucketMax: 4 });
  const fixed = bucketLayout({ bucketType: "fixed", bucketKeys: [10, 50, 100] });
  it.each([
    [exp2, 0, 0],
    [exp2, 2, 0],
    [exp2, 4, 2],
    [exp2, 6, -1],
    [fixed, 1, 0],
    [fixed, 10, 0],
    [fixed, 11, 1],
    [fixed, 100, 2],
    [fixed, 101, -1],
  ])("places index %#", (layout, index, position) => {
    expect(bucketPosition(layout, index)).toBe(position);
  });
});

describe("histogramSeries", () => {
  const exp2 = bucketLayout({ bucketType: "exp2", bucketMin: 0, bucketMax: 3 });

  it("fills missing buckets, accumulates, ends with +Inf equal to the count and takes the sum from bucketMax+1", () => {
    const series = histogramSeries(
      exp2,
      new Map([
        [1, 2],
        [3, 1],
        [4, 13],
      ]),
    );
    expect(series).toEqual({
      buckets: [
        ["1", 0],
        ["2", 2],
        ["4", 2],
        ["8", 3],
        ["+Inf", 3],
      ],
      sum: 13,
      count: 3,
    });
  });

  it("estimates the sum from upper bounds when there is no sum key", () => {
    expect(
      histogramSeries(
        exp2,
        new Map([
          [1, 2],
          [3, 1],
        ]),
      ).sum,
    ).toBe(2 * 2 + 1 * 8);
  });

  it("counts overflow indexes in +Inf only and below-minimum ones in the first bucket", () => {
    const layout = bucketLayout({ bucketType: "linear", bucketMin: 1, bucketMax: 2, bucketMultiplier: 10 });
    const series = histogramSeries(
      layout,
      new Map([
        [0, 1],
        [2, 1],
        [9, 5],
      ]),
    );
    expect(series.buckets).toEqual([
      ["10", 1],
      ["20", 2],
      ["+Inf", 7],
    ]);
    expect(series.count).toBe(7);
  });

  it("scales an exp2 sum key by the multiplier like the bounds, and serves a linear one as counted", () => {
    const layout = bucketLayout({ bucketType: "exp2", bucketMax: 1, bucketMultiplier: 1e-3 });
    expect(
      histogramSeries(
        layout,
        new Map([
          [1, 1],
          [2, 1500],
        ]),
      ).sum,
    ).toBeCloseTo(1.5);
    const linear = bucketLayout({ bucketType: "linear", bucketMax: 1, bucketMultiplier: 100 });
    expect(
      histogramSeries(
        linear,
        new Map([
          [1, 1],
          [2, 42],
        ]),
      ).sum,
    ).toBe(42);
  });

  it("emits every bucket with zero counts for an empty histogram", () => {
    const series = histogramSeries(bucketLayout({ bucketType: "exp2zero", bucketMax: 2 }), new Map());
    expect(series).toEqual({
      buckets: [
        ["0", 0],
        ["1", 0],
        ["2", 0],
        ["+Inf", 0],
      ],
      sum: 0,
      count: 0,
    });
  });
});

describe("formatLe", () => {
  // What Go's strconv.FormatFloat(v, 'g', -1, 64) prints (client_golang's `le`), case by case.
  it.each([
    [0, "0"],
    [1, "1"],
    [0.5, "0.5"],
    [4096, "4096"],
    [100000, "100000"],
    [0.0001, "0.0001"],
    [0.00012, "0.00012"],
    [1e-6, "1e-06"],
    [1.6384e-5, "1.6384e-05"],
    [1024e-9, "1.024e-06"],
    [1e6, "1e+06"],
    [1048576, "1.048576e+06"],
    [123456789, "1.23456789e+08"],
    [1e21, "1e+21"],
    [1e100, "1e+100"],
    [5e-324, "5e-324"],
    [-2, "-2"],
    [-1e-7, "-1e-07"],
    [Infinity, "+Inf"],
    [-Infinity, "-Inf"],
  ])("%s -> %s", (bound, text) => {
    expect(formatLe(bound)).toBe(text);
  });

  it("reads back to the same number", () => {
    for (let i = -40; i <= 40; i++) for (const m of [1, 1e-9, 0.001, 3]) expect(Number(formatLe(2 ** i * m))).toBe(2 ** i * m);
  });
});
