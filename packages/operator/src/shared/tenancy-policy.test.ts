import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULT_QUOTAS, parseManifests, type EbpfMapSpec } from "@ebpf-operator/core";
import { admit, effectivePolicy, enforcementOf, matchesSelector, nodeRefusal, objectRefusal, type PolicyObject } from "./tenancy-policy.js";
import { ALLOW_KERNEL_WIDE_LABEL } from "./types.js";

const policy = (name: string, spec: Partial<PolicyObject["spec"]>): PolicyObject => ({ metadata: { name }, spec: { namespaceSelector: {}, ...spec } });

describe("matchesSelector", () => {
  it.each([
    [{}, {}, true],
    [{ matchLabels: { team: "a" } }, { team: "a" }, true],
    [{ matchLabels: { team: "a" } }, { team: "b" }, false],
    [{ matchExpressions: [{ key: "team", operator: "In" as const, values: ["a", "b"] }] }, { team: "b" }, true],
    [{ matchExpressions: [{ key: "team", operator: "NotIn" as const, values: ["a"] }] }, {}, true],
    [{ matchExpressions: [{ key: "team", operator: "Exists" as const }] }, {}, false],
    [{ matchExpressions: [{ key: "team", operator: "DoesNotExist" as const }] }, { team: "x" }, false],
  ])("%j against %j is %s", (selector, labels, expected) => {
    expect(matchesSelector(selector, labels)).toBe(expected);
  });

  it("matches nothing without a selector", () => {
    expect(matchesSelector(undefined, {})).toBe(false);
  });
});

describe("effectivePolicy", () => {
  it("gives an unselected namespace the default: pod scope only, observe, modest quotas, no control plane", () => {
    const p = effectivePolicy("team-a", {}, [], ["tracepoint"]);
    expect(p).toMatchObject({
      source: "Default",
      targetScopes: ["pod"],
      verdictMode: "observe",
      helpers: { sets: ["observe"], names: [] },
      nodes: { controlPlane: false },
    });
    expect(p.quotas).toEqual(DEFAULT_QUOTAS);
  });

  it("turns the kernel-wide label into node scope for the kernel-wide types only", () => {
    const p = effectivePolicy("team-a", { [ALLOW_KERNEL_WIDE_LABEL]: "true" }, [], ["tracepoint", "kprobe"]);
    expect(p).toMatchObject({
      source: "NamespaceLabel",
      targetScopes: ["pod", "node"],
      nodeScopeProgramTypes: ["tracepoint", "kprobe"],
      verdictMode: "observe",
    });
  });

  it("picks the selecting policy with the highest priority, then by name, and fills missing quotas with the defaults", () => {
    const policies = [
      policy("b-low", { priority: -1 }),
      policy("z-high", { priority: 5, quotas: { ebpfMaps: 3 } }),
      policy("a-high", { priority: 5, namespaceSelector: { matchLabels: { team: "other" } } }),
    ];
    const p = effectivePolicy("team-a", { team: "a" }, policies, []);
    expect(p).toMatchObject({ source: "EbpfTenancyPolicy", name: "z-high" });
    expect(p.quotas).toEqual({ ...DEFAULT_QUOTAS, ebpfMaps: 3 });
  });

  it("selects by the namespace's name label even when the Namespace object is not cached", () => {
    expect(
      effectivePolicy("team-a", undefined, [policy("p", { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "team-a" } } })], []).name,
    ).toBe("p");
  });
});

describe("admit", () => {
  const resource = (spec: Record<string, unknown> = {}) => ({
    metadata: { name: "m", namespace: "team-a" },
    spec: { type: "xdp", target: "eth0", program: "p", code: "int x;", name: "n", map: "m", ...spec } as never,
  });

  it("admits a namespace's oldest EbpfMaps up to the quota: by creation time, then by name; deleting and uncreated ones last", () => {
    const p = effectivePolicy("team-a", {}, [policy("p", { targetScopes: ["pod", "node"], quotas: { ebpfMaps: 2 } })], []);
    const at = (name: string, creationTimestamp?: string, deletionTimestamp?: string) => ({
      metadata: { name, namespace: "team-a", ...(creationTimestamp ? { creationTimestamp } : {}), ...(deletionTimestamp ? { deletionTimestamp } : {}) },
      spec: { type: "tracepoint", target: "syscalls/sys_enter_getpid", program: "p", code: "int x;", name: "n", map: "m" } as never,
    });
    const gone = at("a-gone", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
    const old = at("z-old", "2026-01-01T00:00:01Z");
    const b = at("b", "2026-01-01T00:00:02Z");
    const a = at("a", "2026-01-01T00:00:02Z"); // same second as b: the name decides
    const fresh = at("c"); // no creation time yet
    const all = [fresh, b, gone, a, old];
    // (A deleting one is finalized before admission is asked; it only must not count for the others.)
    const admitted = all.filter((r) => r !== gone && admit(r, p, all) === undefined).map((r) => r.metadata.name);
    expect(admitted.sort()).toEqual(["a", "z-old"]);
    expect(admit(b, p, all)).toMatchObject({ rule: "quotas.ebpfMaps", message: expect.stringContaining("and 2 older ones take the quota") });
    expect(admit(fresh, p, all)).toMatchObject({ message: expect.stringContaining("and 3 older ones take the quota") });
    // Below the quota, nothing is counted: the two youngest alone are both admitted.
    expect(admit(fresh, p, [fresh, b])).toBeUndefined();
  });

  it("refuses node-wide targets of types left out of nodeScopeProgramTypes", () => {
    const p = effectivePolicy("team-a", { [ALLOW_KERNEL_WIDE_LABEL]: "true" }, [], ["tracepoint"]);
    expect(admit(resource(), p, [])).toEqual({
      rule: "nodeScopeProgramTypes",
      message: `refused by the namespace label ${ALLOW_KERNEL_WIDE_LABEL}=true, rule nodeScopeProgramTypes: spec.target "eth0" of program type xdp is node-wide, and the policy allows node-wide targets only for tracepoint`,
    });
    expect(admit(resource({ type: "tracepoint", target: "syscalls/sys_enter_getpid" }), p, [])).toBeUndefined();
  });

  it("checks every program of spec.programs[]", () => {
    const p = effectivePolicy("team-a", {}, [policy("p", { targetScopes: ["node"], programTypes: ["tracepoint"] })], []);
    const several = resource({
      type: undefined,
      target: undefined,
      program: undefined,
      programs: [
        { program: "a", type: "tracepoint", target: "syscalls/sys_enter_getpid" },
        { program: "b", type: "cgroup", target: "skb/egress:/" },
      ],
    });
    expect(admit(several, p, [])).toMatchObject({ rule: "programTypes", message: expect.stringContaining('spec.programs[1].type "cgroup" is not allowed') });
  });

  it("keeps programs off control-plane nodes and nodes outside nodes.selector", () => {
    const p = effectivePolicy("team-a", {}, [policy("p", { nodes: { selector: { matchLabels: { pool: "tenants" } } } })], []);
    expect(nodeRefusal(p, { metadata: { name: "cp", labels: { "node-role.kubernetes.io/control-plane": "", pool: "tenants" } } })).toContain(
      "rule nodes.controlPlane",
    );
    expect(nodeRefusal(p, { metadata: { name: "w1", labels: { pool: "infra" } } })).toContain('rule nodes.selector: node "w1" does not match');
    expect(nodeRefusal(p, { metadata: { name: "w2", labels: { pool: "tenants" } } })).toBeUndefined();
  });
});

describe("enforcementOf", () => {
  it("gives the very same enforcement for an unchanged grant, and a new one when the grant changes", () => {
    const spec = { helpers: { names: ["bpf_send_signal"] }, verdictMode: "enforce" as const, quotas: { mapEntries: 1024 } };
    const first = enforcementOf(effectivePolicy("team-a", {}, [policy("p", spec)], []));
    // Evaluated again from fresh objects (another informer event): equal grant, same object.
    expect(enforcementOf(effectivePolicy("team-a", {}, [policy("p", structuredClone(spec))], []))).toBe(first);
    // Fields the loader does not enforce do not change it either.
    expect(enforcementOf(effectivePolicy("team-a", {}, [policy("p", { ...spec, targetScopes: ["node"], quotas: { ...spec.quotas, ebpfMaps: 3 } })], []))).toBe(
      first,
    );
    expect(first).toMatchObject({
      verdictMode: "enforce",
      tracingPrivileges: false,
      namespaceMapBytes: DEFAULT_QUOTAS.mapBytesPerNamespacePerNode,
      rules: { helpers: { sets: ["observe"], names: ["bpf_send_signal"] }, maps: { maxEntries: 1024, maxBytesTotal: DEFAULT_QUOTAS.mapBytesPerEbpfMap } },
    });
    const narrowed = enforcementOf(effectivePolicy("team-a", {}, [policy("p", { ...spec, helpers: {} })], []));
    expect(narrowed).not.toBe(first);
    expect(narrowed.rules?.helpers.names).toEqual([]);
  });

  it("holds a namespace no policy selects, and the kernel-wide label, to observe mode and the observe helpers", () => {
    for (const labels of [{}, { [ALLOW_KERNEL_WIDE_LABEL]: "true" }] as Record<string, string>[]) {
      const e = enforcementOf(effectivePolicy("team-a", labels, [], ["tracepoint"]));
      expect(e).toMatchObject({ verdictMode: "observe", tracingPrivileges: false, rules: { helpers: { sets: ["observe"], names: [] }, kfuncs: [] } });
      expect(e.rules?.maxInstructions).toBe(DEFAULT_QUOTAS.instructions);
    }
  });
});

describe("objectRefusal", () => {
  it("names the policy, the policy field of the first violation, and every violation", () => {
    const p = effectivePolicy("team-a", {}, [policy("small", {})], []);
    const refusal = objectRefusal(p, [
      { rule: "map-entries", map: "big", message: 'map "big" has max_entries 50000000; the limit is 65536' },
      { rule: "helper", helper: "bpf_send_signal", message: "calls bpf_send_signal" },
    ]);
    expect(refusal).toEqual({
      rule: "quotas.mapEntries",
      message:
        'refused by EbpfTenancyPolicy "small", rule quotas.mapEntries: the compiled object breaks the policy\'s rules: map "big" has max_entries 50000000; the limit is 65536; calls bpf_send_signal',
    });
    expect(objectRefusal(p, [{ rule: "observe-helper", message: "x" }]).rule).toBe("verdictMode");
    const many = Array.from({ length: 12 }, (_, i) => ({ rule: "helper" as const, message: `h${i}` }));
    expect(objectRefusal(p, many).message).toMatch(/h7 \(and 4 more\)$/);
  });
});

describe("pod scope under the default policy (issue 12: the tenant's own workloads)", () => {
  const example = parseManifests(readFileSync(new URL("../../../../examples/pod-egress.yaml", import.meta.url), "utf8"), "pod-egress.yaml").resources[0]!;
  const resource = (spec: EbpfMapSpec) => ({ metadata: { name: "pod-egress", namespace: "shop" }, spec });

  it("admits the pod-scoped cgroup example in a tenant's namespace without any node-wide grant", () => {
    const p = effectivePolicy("shop", {}, [], ["tracepoint"]);
    expect(p.source).toBe("Default");
    expect(example.resource.spec.selector).toEqual({ matchLabels: { app: "web" } });
    expect(admit(resource(example.resource.spec), p, [])).toBeUndefined();
  });

  // xdp and socket in pod scope attach inside each selected pod's network namespace (its own
  // interfaces): the tenant's own workloads, like cgroup, so the default admits them.
  const network = (type: "xdp" | "socket", target: string, selector?: EbpfMapSpec["selector"]): EbpfMapSpec => ({
    type,
    target,
    program: "count",
    code: "int count(void *ctx) { return 0; }",
    metrics: [{ name: "pod_packets", help: "packets", type: "counter", map: "packets", labels: [] }],
    ...(selector ? { selector } : {}),
  });

  it.each([
    ["xdp", "xdp/*?mode=generic"],
    ["socket", "sockfilter/*"],
  ] as const)("admits a pod-scoped %s program (target %s) without any node-wide grant", (type, target) => {
    const p = effectivePolicy("shop", {}, [], ["tracepoint"]);
    expect(admit(resource(network(type, target, { matchLabels: { app: "web" } })), p, [])).toBeUndefined();
  });

  it.each([
    ["xdp", "xdp/eth0"],
    ["socket", "sockfilter/eth0"],
  ] as const)("refuses %s on a node interface (%s, no selector) under the default policy", (type, target) => {
    const refusal = admit(resource(network(type, target)), effectivePolicy("shop", {}, [], ["tracepoint"]), []);
    expect(refusal?.rule).toBe("targetScopes");
    expect(refusal?.message).toMatch(new RegExp(`spec\\.target "${target}" of program type ${type} is node-wide`));
  });

  it("refuses the same program without spec.selector: cgroup/skb/egress:/ is then the node's root cgroup", () => {
    const { selector: _selector, ...nodeWide } = example.resource.spec;
    expect(admit(resource(nodeWide as EbpfMapSpec), effectivePolicy("shop", {}, [], ["tracepoint"]), [])?.message).toMatch(
      /rule targetScopes: spec\.target "cgroup\/skb\/egress:\/" of program type cgroup is node-wide/,
    );
  });

  // What each pod-scoped example's header says: a tenant may apply it as shipped, with nothing
  // node-wide granted, and the same spec without its selector is refused.
  const examplesDir = new URL("../../../../examples/", import.meta.url);
  const podScoped = readdirSync(examplesDir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((file) => parseManifests(readFileSync(new URL(file, examplesDir), "utf8"), file).resources.map((r) => [file, r.resource.spec] as const))
    .filter(([, spec]) => spec.selector !== undefined);

  it("has a pod-scoped example of each built-in type that supports pod scope (and of the example third-party uprobe plugin)", () => {
    expect(new Set(podScoped.map(([, spec]) => spec.type))).toEqual(new Set(["cgroup", "tracepoint", "xdp", "socket", "uprobe"]));
  });

  it.each(podScoped)("admits examples/%s as shipped under the default policy, and refuses it without spec.selector", (_file, spec) => {
    const p = effectivePolicy("shop", {}, [], ["tracepoint", "raw_tp", "tp_btf", "kprobe", "kretprobe"]);
    expect(p.source).toBe("Default");
    expect(admit(resource(spec), p, [])).toBeUndefined();
    const { selector: _selector, ...nodeWide } = spec;
    expect(admit(resource(nodeWide as EbpfMapSpec), p, [])?.rule).toBe("targetScopes");
  });

  it("admits pod-scoped tracing (tracepoint, kprobe, kretprobe) without the node-wide grant, and refuses each without the selector", () => {
    const p = effectivePolicy("shop", {}, [], ["tracepoint", "raw_tp", "tp_btf", "kprobe", "kretprobe"]);
    for (const [type, target] of [
      ["tracepoint", "syscalls/sys_enter_getpid"],
      ["kprobe", "do_unlinkat"],
      ["kretprobe", "do_unlinkat"],
    ] as const) {
      const spec = { ...example.resource.spec, type, target, selector: { matchLabels: { app: "web" } } } as EbpfMapSpec;
      expect(admit(resource(spec), p, [])).toBeUndefined();
      const { selector: _selector, ...nodeWide } = spec;
      expect(admit(resource(nodeWide as EbpfMapSpec), p, [])?.message).toMatch(
        new RegExp(`rule targetScopes: spec\\.target "${target}" of program type ${type} is node-wide`),
      );
    }
  });
});

describe("pod labels of other namespaces (cgroup_namespace, cgroup_pod, cgroup_container: issue 12)", () => {
  const example = parseManifests(readFileSync(new URL("../../../../examples/node-pod-execs.yaml", import.meta.url), "utf8"), "node-pod-execs.yaml")
    .resources[0]!;
  const resource = (spec: EbpfMapSpec, namespace = "platform") => ({ metadata: { name: "node-pod-execs", namespace }, spec });
  const nodeWide = { targetScopes: ["pod", "node"] as ("pod" | "node")[], nodeScopeProgramTypes: ["tracepoint"] };

  it("attack: alice's node-wide program with the decoders, in a namespace whose policy grants node scope but not the labels, is refused naming the field", () => {
    const p = effectivePolicy(
      "alice",
      {},
      [policy("alice-node", { ...nodeWide, namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "alice" } } })],
      [],
    );
    expect(p.crossNamespacePodLabels).toBe(false);
    expect(admit(resource(example.resource.spec, "alice"), p, [])).toEqual({
      rule: "crossNamespacePodLabels",
      message: expect.stringMatching(
        /^refused by EbpfTenancyPolicy "alice-node", rule crossNamespacePodLabels: spec\.metrics\[0\]\.labels\[0\]\.decoders\[1\] "cgroup_namespace" names the pods of every namespace on the node/,
      ),
    });
  });

  it("attack: the same decoders on a pod-scoped resource under the default policy are refused too (a program writes any id it likes)", () => {
    const podScoped = { ...example.resource.spec, selector: { matchLabels: { app: "web" } } } as EbpfMapSpec;
    const p = effectivePolicy("alice", {}, [], ["tracepoint"]);
    expect(admit(resource(podScoped, "alice"), p, [])?.rule).toBe("crossNamespacePodLabels");
    // The kernel-wide namespace label grants node scope for tracing types, not other namespaces' pod names.
    const labelled = effectivePolicy("alice", { [ALLOW_KERNEL_WIDE_LABEL]: "true" }, [], ["tracepoint"]);
    expect(admit(resource(example.resource.spec, "alice"), labelled, [])?.message).toMatch(/rule crossNamespacePodLabels: .*decoders\[1\] "cgroup_namespace"/);
  });

  it("attack: cgroup_container (other namespaces' container names) on a pod-scoped resource under the default policy is refused naming the field; admitted where granted", () => {
    const containerNames = {
      ...example.resource.spec,
      selector: { matchLabels: { app: "web" } },
      metrics: [
        {
          ...example.resource.spec.metrics![0]!,
          labels: [{ name: "container_name", field: "cgroup", decoders: [{ name: "uint" }, { name: "cgroup_container" }] }],
        },
      ],
    } as EbpfMapSpec;
    expect(admit(resource(containerNames, "alice"), effectivePolicy("alice", {}, [], ["tracepoint"]), [])).toEqual({
      rule: "crossNamespacePodLabels",
      message: expect.stringMatching(
        /rule crossNamespacePodLabels: spec\.metrics\[0\]\.labels\[0\]\.decoders\[1\] "cgroup_container" names the pods of every namespace on the node/,
      ),
    });
    const granted = effectivePolicy("platform", {}, [policy("platform", { ...nodeWide, crossNamespacePodLabels: true })], []);
    expect(admit(resource(containerNames), granted, [])).toBeUndefined();
  });

  it("admits the shipped example where the policy allows them", () => {
    const p = effectivePolicy("platform", {}, [policy("platform", { ...nodeWide, crossNamespacePodLabels: true })], []);
    expect(admit(resource(example.resource.spec), p, [])).toBeUndefined();
    // A resource without the decoders needs no grant.
    expect(
      admit(resource({ ...example.resource.spec, metrics: [] } as EbpfMapSpec), effectivePolicy("p", {}, [policy("p", nodeWide)], []), []),
    ).toBeUndefined();
  });
});

describe("the cgroup decoder: any cgroup's path on the node", () => {
  const example = parseManifests(readFileSync(new URL("../../../../examples/pod-egress.yaml", import.meta.url), "utf8"), "pod-egress.yaml").resources[0]!;
  // alice's own pod-scoped program, but its key's cgroup id decoded into a node path: she writes
  // whatever ids she likes into her map (guessed inode numbers), and `cgroup` would name other
  // pods' UIDs and container ids and the host's services.
  const withCgroupPath = {
    ...example.resource.spec,
    metrics: [
      {
        ...example.resource.spec.metrics![0]!,
        labels: [{ name: "path", decoders: [{ name: "uint" }, { name: "cgroup" }] }],
      },
    ],
  } as EbpfMapSpec;
  const resource = (spec: EbpfMapSpec) => ({ metadata: { name: "pod-egress", namespace: "alice" }, spec });

  it("attack: a pod-scoped resource under the default policy is refused naming the decoder's field", () => {
    const p = effectivePolicy("alice", {}, [], ["tracepoint"]);
    expect(admit(resource(example.resource.spec), p, [])).toBeUndefined();
    expect(admit(resource(withCgroupPath), p, [])).toEqual({
      rule: "targetScopes",
      message: expect.stringMatching(/rule targetScopes: spec\.metrics\[0\]\.labels\[0\]\.decoders\[1\] "cgroup" names any cgroup of the node/),
    });
  });

  it("is admitted where the policy grants node-wide targets (the namespace sees the node anyway)", () => {
    const p = effectivePolicy("alice", {}, [policy("alice-node", { namespaceSelector: {}, targetScopes: ["pod", "node"] })], []);
    expect(admit(resource(withCgroupPath), p, [])).toBeUndefined();
  });
});
