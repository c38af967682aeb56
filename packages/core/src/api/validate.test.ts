import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { programsOf } from "./programs.js";
import { validateEbpfMapObject } from "./validate.js";

const quickStart = parse(readFileSync(new URL("../../../../examples/quick-start.yaml", import.meta.url), "utf8")) as Record<string, unknown>;

function withSpec(patch: Record<string, unknown>): unknown {
  const copy = structuredClone(quickStart) as { spec: Record<string, unknown> };
  copy.spec = { ...copy.spec, ...patch };
  for (const [key, value] of Object.entries(patch)) if (value === undefined) delete copy.spec[key];
  return copy;
}

describe("validateEbpfMapObject", () => {
  it("accepts the README quick-start manifest unchanged", () => {
    const result = validateEbpfMapObject(quickStart);
    expect(result.ok).toBe(true);
  });

  it("fills prometheusType with counter when it is left out", () => {
    const result = validateEbpfMapObject(withSpec({ prometheusType: undefined }));
    expect(result.ok && result.value.spec.prometheusType).toBe("counter");
  });

  it("does not mutate its input", () => {
    const input = withSpec({ prometheusType: undefined }) as { spec: Record<string, unknown> };
    validateEbpfMapObject(input);
    expect(input.spec.prometheusType).toBeUndefined();
  });

  it.each([
    [{ prometheusType: "summary" }, "spec.prometheusType", 'must be one of "counter", "gauge"'],
    [{ program: undefined }, "spec.program", "required field is missing"],
    [{ program: "count-execve" }, "spec.program", "does not match the pattern"],
    [{ map: 42 }, "spec.map", "must be string"],
    [{ code: "" }, "spec.code", "must NOT have fewer than 1 characters"],
    [{ type: "KPROBE" }, "spec.type", "does not match the pattern"],
    [{ colour: "blue" }, "spec", 'unknown field "colour"'],
    [{ name: "node_cpu_seconds" }, "spec.name", 'serves "node_cpu_seconds_total": metric names starting with "node_" belong to another exporter'],
    [{ name: "up", prometheusType: "gauge" }, "spec.name", `serves "up": "up" is the scrape's own metric`],
    [{ name: "ebpf_operator_agent_resources", prometheusType: "gauge" }, "spec.name", 'starting with "ebpf_operator_"'],
  ])("names the field when the spec is %j", (patch, field, message) => {
    const result = validateEbpfMapObject(withSpec(patch));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toContainEqual({ field, message: expect.stringContaining(message) });
  });

  it("rejects a wrong apiVersion and a metadata.name Kubernetes would refuse", () => {
    const bad = { ...structuredClone(quickStart), apiVersion: "ebpf.github.com/v1", metadata: { name: "Syscall_Monitor" } };
    const result = validateEbpfMapObject(bad);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.field)).toEqual(expect.arrayContaining(["apiVersion", "metadata.name"]));
  });

  const richSpec = {
    name: undefined,
    map: undefined,
    prometheusType: undefined,
    metrics: [
      {
        name: "syscalls",
        map: "counts",
        labels: [{ name: "syscall", decoders: [{ name: "uint" }, { name: "syscall" }] }],
      },
      {
        name: "read_size_bytes",
        type: "histogram",
        map: "sizes",
        help: "read sizes",
        histogram: { bucketType: "exp2", bucketMin: 0, bucketMax: 32 },
      },
    ],
  };

  it("accepts spec.metrics without the flat name and map, filling type and bucket defaults", () => {
    const result = validateEbpfMapObject(withSpec(richSpec));
    expect(result.ok ? undefined : result.errors).toBeUndefined();
    if (!result.ok) return;
    expect(result.value.spec.metrics?.[0]?.type).toBe("counter");
    expect(result.value.spec.metrics?.[1]?.histogram?.bucketMultiplier).toBe(1);
  });

  it("keeps decoder options it does not know (plugin decoders take their own)", () => {
    const spec = structuredClone(richSpec);
    spec.metrics[0]!.labels![0]!.decoders = [{ name: "xdp_action", flavour: "short" } as { name: string }];
    const result = validateEbpfMapObject(withSpec(spec));
    expect(result.ok && result.value.spec.metrics?.[0]?.labels?.[0]?.decoders?.[0]).toEqual({ name: "xdp_action", flavour: "short" });
  });

  it("asks for the flat name and map, or metrics, when neither is there", () => {
    const result = validateEbpfMapObject(withSpec({ name: undefined, map: undefined }));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([{ field: "spec", message: "set name and map (the flat spec), or metrics" }]);
  });

  const metric = (patch: Record<string, unknown>) => withSpec({ ...richSpec, metrics: [{ ...richSpec.metrics[0], ...patch }] });
  const histogram = (h: Record<string, unknown>, patch: Record<string, unknown> = {}) =>
    withSpec({ ...richSpec, metrics: [{ name: "h", type: "histogram", map: "m", histogram: h, ...patch }] });

  it.each([
    ["a metric name with a dash", metric({ name: "sys-calls" }), "spec.metrics[0].name", "does not match the pattern"],
    ["a metric name starting with __", metric({ name: "__x" }), "spec.metrics[0].name", "not a valid Prometheus metric name"],
    ["a label named namespace", metric({ labels: [{ name: "namespace" }] }), "spec.metrics[0].labels[0].name", "set by the agent"],
    ["a label named ebpfmap", metric({ labels: [{ name: "ebpfmap" }] }), "spec.metrics[0].labels[0].name", "set by the agent"],
    ...["job", "instance", "node", "pod", "container", "service", "endpoint"].map((name) => [
      `a label named ${name}`,
      metric({ labels: [{ name }] }),
      "spec.metrics[0].labels[0].name",
      "a label of the scrape target",
    ]),
    ["a label named exported_namespace", metric({ labels: [{ name: "exported_namespace" }] }), "spec.metrics[0].labels[0].name", 'starting with "exported_"'],
    ["a metric named kube_pod_info", metric({ name: "kube_pod_info", type: "gauge" }), "spec.metrics[0].name", 'starting with "kube_"'],
    ["a metric named like a recording rule", metric({ name: "namespace:cpu:sum", type: "gauge" }), "spec.metrics[0].name", "reserved for recording rules"],
    ["a label starting with __", metric({ labels: [{ name: "__meta" }] }), "spec.metrics[0].labels[0].name", "not a valid Prometheus label name"],
    ["a label name with a dot", metric({ labels: [{ name: "a.b" }] }), "spec.metrics[0].labels[0].name", "does not match the pattern"],
    ["a label defined twice", metric({ labels: [{ name: "a" }, { name: "a" }] }), "spec.metrics[0].labels[1].name", "defined twice"],
    ["a label with field and size", metric({ labels: [{ name: "a", field: "a", size: 4 }] }), "spec.metrics[0].labels[0]", "not both"],
    ["padding without size", metric({ labels: [{ name: "a", padding: 4 }] }), "spec.metrics[0].labels[0].padding", "only to labels cut by size"],
    ["sized and unsized labels mixed", metric({ labels: [{ name: "a", size: 4 }, { name: "b" }] }), "spec.metrics[0].labels", "every label by size, or none"],
    ["an unknown label field", metric({ labels: [{ name: "a", colour: 1 }] }), "spec.metrics[0].labels[0]", 'unknown field "colour"'],
    ["a summary", metric({ type: "summary" }), "spec.metrics[0].type", "must be one of"],
    [
      "a decoder name in capitals",
      metric({ labels: [{ name: "a", decoders: [{ name: "UINT" }] }] }),
      "spec.metrics[0].labels[0].decoders[0].name",
      "does not match the pattern",
    ],
    ["a histogram without buckets", metric({ type: "histogram" }), "spec.metrics[0].histogram", "required for type histogram"],
    ["buckets on a counter", metric({ histogram: { bucketType: "exp2", bucketMax: 3 } }), "spec.metrics[0].histogram", "only to type histogram"],
    ["an exp2 histogram without bucketMax", histogram({ bucketType: "exp2" }), "spec.metrics[0].histogram.bucketMax", "required for bucketType exp2"],
    [
      "bucketMax below bucketMin",
      histogram({ bucketType: "linear", bucketMin: 5, bucketMax: 2 }),
      "spec.metrics[0].histogram.bucketMax",
      "at least bucketMin (5)",
    ],
    ["too many buckets", histogram({ bucketType: "linear", bucketMax: 5000 }), "spec.metrics[0].histogram.bucketMax", "at most 4096 buckets"],
    ["a fixed histogram without keys", histogram({ bucketType: "fixed" }), "spec.metrics[0].histogram.bucketKeys", "required for bucketType fixed"],
    ["repeated fixed keys", histogram({ bucketType: "fixed", bucketKeys: [1, 1] }), "spec.metrics[0].histogram.bucketKeys", "must not repeat"],
    ["a zero multiplier", histogram({ bucketType: "exp2", bucketMax: 3, bucketMultiplier: 0 }), "spec.metrics[0].histogram.bucketMultiplier", "must be > 0"],
    ["a histogram named _count", histogram({ bucketType: "exp2", bucketMax: 3 }, { name: "x_count" }), "spec.metrics[0].name", "must not end in"],
    [
      "a histogram label named le",
      histogram({ bucketType: "exp2", bucketMax: 3 }, { labels: [{ name: "le" }, { name: "bucket" }] }),
      "spec.metrics[0].labels[0].name",
      "reserved for histogram buckets",
    ],
    [
      "a decoder on a histogram's bucket label",
      histogram({ bucketType: "exp2", bucketMax: 3 }, { labels: [{ name: "comm" }, { name: "bucket", decoders: [{ name: "uint" }] }] }),
      "spec.metrics[0].labels[1].decoders",
      "bucket index (it becomes le): it takes no decoders",
    ],
    ["perCpu beside a label named cpu", metric({ perCpu: true, labels: [{ name: "cpu" }] }), "spec.metrics[0].labels[0].name", "the label perCpu adds"],
    ["perCpu that is not a boolean", metric({ perCpu: "yes" }), "spec.metrics[0].perCpu", "must be boolean"],
    [
      "two metrics served under one name",
      withSpec({ ...richSpec, metrics: [richSpec.metrics[0], { ...richSpec.metrics[0], name: "syscalls_total" }] }),
      "spec.metrics[1].name",
      'metric "syscalls_total" is also defined by spec.metrics[0].name',
    ],
    [
      "a metric clashing with the flat one",
      withSpec({ metrics: [{ name: "syscall_counter", map: "m" }] }),
      "spec.metrics[0].name",
      "also defined by spec.name",
    ],
    ["a flat name without a map", withSpec({ ...richSpec, name: "x" }), "spec.map", "needs both name and map"],
    ["no metrics at all", withSpec({ ...richSpec, metrics: [] }), "spec.metrics", "must NOT have fewer than 1 items"],
  ] as [string, unknown, string, string][])("names the field for %s", (_what, input, field, message) => {
    const result = validateEbpfMapObject(input);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toContainEqual({ field, message: expect.stringContaining(message) });
  });

  describe("spec.programs", () => {
    const pair = {
      program: undefined,
      type: undefined,
      target: undefined,
      programs: [
        { program: "on_enter", type: "tp_btf", target: "sys_enter" },
        { program: "on_exit", type: "tp_btf", target: "sys_exit" },
      ],
    };

    it("accepts several programs instead of program, type and target", () => {
      const result = validateEbpfMapObject(withSpec(pair));
      expect(result.ok ? undefined : result.errors).toBeUndefined();
      expect(result.ok && programsOf(result.value.spec)).toEqual([
        { program: "on_enter", type: "tp_btf", target: "sys_enter", field: "spec.programs[0]" },
        { program: "on_exit", type: "tp_btf", target: "sys_exit", field: "spec.programs[1]" },
      ]);
    });

    it("reads the flat spec as one program", () => {
      const result = validateEbpfMapObject(quickStart);
      expect(result.ok && programsOf(result.value.spec)).toEqual([{ program: "count_execve", type: "kprobe", target: "sys_execve", field: "spec" }]);
    });

    it("asks for program, type and target, or programs, when neither is complete", () => {
      const result = validateEbpfMapObject(withSpec({ program: undefined, type: undefined, target: undefined }));
      expect(result.ok ? [] : result.errors).toEqual([{ field: "spec", message: "set program, type and target (one program), or programs" }]);
      const partial = validateEbpfMapObject(withSpec({ program: undefined }));
      expect(partial.ok ? [] : partial.errors).toEqual([{ field: "spec.program", message: "required field is missing (or list the programs in programs)" }]);
    });

    it.each([
      ["program beside programs", withSpec({ ...pair, program: "x" }), "spec.program", "not both"],
      ["type beside programs", withSpec({ ...pair, type: "tracepoint" }), "spec.type", "not both"],
      [
        "one function twice",
        withSpec({ ...pair, programs: [pair.programs[0], { ...pair.programs[1], program: "on_enter" }] }),
        "spec.programs[1].program",
        'program "on_enter" is already attached by spec.programs[0]',
      ],
      ["an empty list", withSpec({ ...pair, programs: [] }), "spec.programs", "must NOT have fewer than 1 items"],
      [
        "an entry without a target",
        withSpec({ ...pair, programs: [{ program: "a", type: "tp_btf" }] }),
        "spec.programs[0].target",
        "required field is missing",
      ],
      [
        "an unknown entry field",
        withSpec({ ...pair, programs: [{ ...pair.programs[0], nodeSelector: {} }] }),
        "spec.programs[0]",
        'unknown field "nodeSelector"',
      ],
      [
        "a function name with a dash",
        withSpec({ ...pair, programs: [{ ...pair.programs[0], program: "on-enter" }] }),
        "spec.programs[0].program",
        "does not match the pattern",
      ],
      [
        "seventeen programs",
        withSpec({ ...pair, programs: Array.from({ length: 17 }, (_, i) => ({ program: `p${i}`, type: "tp_btf", target: "sys_enter" })) }),
        "spec.programs",
        "must NOT have more than 16 items",
      ],
    ])("names the field for %s", (_what, input, field, message) => {
      const result = validateEbpfMapObject(input);
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.errors).toContainEqual({ field, message: expect.stringContaining(message) });
    });
  });
});

describe("spec.selector (pod scope)", () => {
  it("accepts a selector with labels, expressions and a container, and {} (every pod of the namespace)", () => {
    const selector = {
      matchLabels: { app: "web", "app.kubernetes.io/part-of": "shop" },
      matchExpressions: [
        { key: "tier", operator: "In", values: ["front", "back"] },
        { key: "canary", operator: "DoesNotExist" },
      ],
      container: "server",
    };
    const result = validateEbpfMapObject(withSpec({ selector }));
    expect(result.ok && result.value.spec.selector).toEqual(selector);
    expect(validateEbpfMapObject(withSpec({ selector: {} })).ok).toBe(true);
  });

  it.each([
    [{ matchLabels: { "bad key!": "x" } }, "spec.selector.matchLabels", '"bad key!" is not a label key'],
    [{ matchLabels: { [`${"a".repeat(64)}`]: "x" } }, "spec.selector.matchLabels", "is not a label key"],
    [{ matchLabels: { [`${"a".repeat(254)}/name`]: "x" } }, "spec.selector.matchLabels", "is not a label key"],
    [{ matchLabels: { app: "-web" } }, "spec.selector.matchLabels.app", "does not match the pattern"],
    [{ matchLabels: { app: "x".repeat(64) } }, "spec.selector.matchLabels.app", "must NOT have more than 63 characters"],
    [{ matchExpressions: [{ key: "tier", operator: "In" }] }, "spec.selector.matchExpressions[0].values", "operator In needs values"],
    [{ matchExpressions: [{ key: "tier", operator: "NotIn", values: [] }] }, "spec.selector.matchExpressions[0].values", "operator NotIn needs values"],
    [{ matchExpressions: [{ key: "tier", operator: "Exists", values: ["a"] }] }, "spec.selector.matchExpressions[0].values", "operator Exists takes no values"],
    [{ matchExpressions: [{ key: "tier", operator: "Equals", values: ["a"] }] }, "spec.selector.matchExpressions[0].operator", "must be one of"],
    [{ matchExpressions: [{ key: "x/", operator: "Exists" }] }, "spec.selector.matchExpressions[0].key", "does not match the pattern"],
    [{ container: "Server_1" }, "spec.selector.container", "does not match the pattern"],
    [{ namespace: "other" }, "spec.selector", 'unknown field "namespace"'],
    [
      { matchLabels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"])) },
      "spec.selector.matchLabels",
      "must NOT have more than 32 properties",
    ],
  ])("names the field when the selector is %j", (selector, field, message) => {
    const result = validateEbpfMapObject(withSpec({ selector }));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toContainEqual({ field, message: expect.stringContaining(message) });
  });
});

describe("the pod label of pod-scoped resources", () => {
  const podScoped = (labels: unknown[], selector: unknown = { matchLabels: { app: "web" } }, scoped = true) =>
    withSpec({
      type: "cgroup",
      target: "cgroup/skb/egress:/",
      program: "count_egress",
      name: undefined,
      map: undefined,
      prometheusType: undefined,
      help: undefined,
      selector: scoped ? selector : undefined,
      metrics: [{ name: "pod_packets", map: "egress", labels }],
    });
  const errors = (input: unknown) => {
    const result = validateEbpfMapObject(input);
    return result.ok ? [] : result.errors.map((e) => `${e.field}: ${e.message}`);
  };
  const podLabel = { name: "pod", decoders: [{ name: "uint" }, { name: "pod" }] };

  it("accepts a label pod made by the decoder pod, in a pod-scoped resource", () => {
    expect(errors(podScoped([podLabel]))).toEqual([]);
  });

  it("refuses the label pod without spec.selector (it is the scrape target's)", () => {
    expect(errors(podScoped([podLabel], undefined, false))).toEqual([
      expect.stringMatching(/^spec\.metrics\[0\]\.labels\[0\]\.name: "pod" is a label of the scrape target; only a pod-scoped resource/),
    ]);
  });

  it("refuses a label pod whose value the tenant makes (no decoder pod, or another decoder after it)", () => {
    expect(errors(podScoped([{ name: "pod", decoders: [{ name: "uint" }] }]))).toEqual([
      expect.stringMatching(/^spec\.metrics\[0\]\.labels\[0\]\.decoders: a pod-scoped resource's label "pod" takes its value from the agent/),
    ]);
    expect(errors(podScoped([{ name: "pod", decoders: [{ name: "uint" }, { name: "pod" }, { name: "static_map", default: "their-pod" }] }]))).toEqual([
      expect.stringMatching(/^spec\.metrics\[0\]\.labels\[0\]\.decoders\[1\]: the decoder "pod" may only be the last decoder of a label named pod/),
    ]);
  });

  it("refuses the decoder pod under another label name", () => {
    expect(errors(podScoped([{ name: "workload", decoders: [{ name: "uint" }, { name: "pod" }] }]))).toEqual([
      expect.stringMatching(/^spec\.metrics\[0\]\.labels\[0\]\.decoders\[1\]: the decoder "pod" may only be the last decoder of a label named pod/),
    ]);
  });

  const containerLabel = { name: "container", decoders: [{ name: "uint" }, { name: "container" }] };

  it("accepts a label container made by the decoder container, in a pod-scoped resource, with or without selector.container", () => {
    expect(errors(podScoped([podLabel, containerLabel]))).toEqual([]);
    expect(errors(podScoped([podLabel, containerLabel], { matchLabels: { app: "web" }, container: "server" }))).toEqual([]);
  });

  it("attack: a container label on a node-wide resource is refused (it is the scrape target's)", () => {
    expect(errors(podScoped([containerLabel], undefined, false))).toEqual([
      expect.stringMatching(
        /^spec\.metrics\[0\]\.labels\[0\]\.name: "container" is a label of the scrape target; only a pod-scoped resource \(spec\.selector\) may set it, with the decoder container$/,
      ),
    ]);
  });

  it("attack: a label named container whose value the tenant makes (not ending in the decoder container) is refused", () => {
    expect(errors(podScoped([{ name: "container", decoders: [{ name: "uint" }] }]))).toEqual([
      expect.stringMatching(
        /^spec\.metrics\[0\]\.labels\[0\]\.decoders: a pod-scoped resource's label "container" takes its value from the agent: end its decoders with container/,
      ),
    ]);
    expect(errors(podScoped([{ name: "container", decoders: [{ name: "uint" }, { name: "container" }, { name: "static_map", default: "server" }] }]))).toEqual([
      expect.stringMatching(/^spec\.metrics\[0\]\.labels\[0\]\.decoders\[1\]: the decoder "container" may only be the last decoder of a label named container/),
    ]);
    expect(errors(podScoped([{ name: "container", decoders: [{ name: "uint" }, { name: "pod" }] }]))).toEqual([
      expect.stringMatching(/^spec\.metrics\[0\]\.labels\[0\]\.decoders\[1\]: the decoder "pod" may only be the last decoder of a label named pod/),
    ]);
    // The decoder container under another label name would let a tenant pass the agent's names off as its own label.
    expect(errors(podScoped([{ name: "workload", decoders: [{ name: "uint" }, { name: "container" }] }]))).toEqual([
      expect.stringMatching(/^spec\.metrics\[0\]\.labels\[0\]\.decoders\[1\]: the decoder "container" may only be the last decoder of a label named container/),
    ]);
  });
});
