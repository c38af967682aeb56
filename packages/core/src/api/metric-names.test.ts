import { describe, expect, it } from "vitest";
import { foreignMetricReason, isValidLabelName, isValidMetricName, metricNameFor, reservedLabelReason, sanitizeMetricName } from "./metric-names.js";

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

describe("foreignMetricReason", () => {
  it.each([
    ["node_cpu_seconds_total", "node_"],
    ["Node_load1", "node_"],
    ["kube_pod_info", "kube_"],
    ["kubelet_running_pods", "kubelet_"],
    ["container_memory_working_set_bytes", "container_"],
    ["process_resident_memory_bytes", "process_"],
    ["scrape_samples_scraped", "scrape_"],
    ["ebpf_operator_agent_resources", "ebpf_operator_"],
  ])("refuses %s (prefix %s)", (name, prefix) => {
    expect(foreignMetricReason(name)).toContain(`"${prefix}"`);
  });

  it("refuses up and names with colons (recording rules)", () => {
    expect(foreignMetricReason("up")).toContain("scrape's own");
    expect(foreignMetricReason("namespace:cpu:sum")).toContain("recording rules");
  });

  it.each(["syscall_counter_total", "nodes_seen_total", "upstream_bytes", "my_kube_things"])("allows %s", (name) => {
    expect(foreignMetricReason(name)).toBeUndefined();
  });
});

describe("reservedLabelReason", () => {
  it.each(["namespace", "ebpfmap", "overflow", "job", "instance", "node", "pod", "container", "service", "endpoint", "quantile", "__name__", "exported_job"])(
    "reserves %s",
    (name) => {
      expect(reservedLabelReason(name)).toBeDefined();
    },
  );

  it.each(["key", "cpu", "comm", "nodename", "pods", "le"])("leaves %s to resources", (name) => {
    expect(reservedLabelReason(name)).toBeUndefined();
  });
});
