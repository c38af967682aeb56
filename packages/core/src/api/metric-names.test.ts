import { describe, expect, it } from "vitest";
import { isValidLabelName, isValidMetricName, metricNameFor, sanitizeMetricName } from "./metric-names.js";

describe("metricNameFor", () => {
  it.each([
    ["syscall-counter", "counter", "syscall_counter_total"],
    ["execve-counter", "counter", "execve_counter_total"],
    ["requests_total", "counter", "requests_total"],
    ["queue.depth", "gauge", "queue_depth"],
    ["9lives", "gauge", "_9lives"],
    ["ns:thing", "gauge", "ns:thing"],
  ] as const)("turns %s (%s) into %s", (name, type, expected) => {
    expect(metricNameFor(name, type)).toBe(expected);
    expect(isValidMetricName(expected)).toBe(true);
  });
});

describe("sanitizeMetricName", () => {
  it("replaces every character Prometheus does not allow", () => {
    expect(sanitizeMetricName("a-b.c/d é")).toBe("a_b_c_d__");
  });
});

describe("isValidLabelName", () => {
  it.each([
    ["namespace", true],
    ["ebpfmap", true],
    ["_x", true],
    ["__name__", false],
    ["1abc", false],
    ["a-b", false],
    ["a:b", false],
  ])("says %s is %s", (name, valid) => {
    expect(isValidLabelName(name)).toBe(valid);
  });
});
