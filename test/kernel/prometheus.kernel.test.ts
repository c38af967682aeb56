/**
 * A real Prometheus (Debian's 2.42, its own port and data dir) scrapes the built agent running the
 * bundled examples every second, and receives the agent's remote-write. Asserted through
 * Prometheus' HTTP API: the examples' series with their labels, a rate while a workload runs,
 * remote-written samples, label values that need escaping, and every query of every Grafana
 * dashboard returning data. The overview's data is drawn as SVG; with EOP_RENDER_DOCS=1 it is
 * written to docs/overview-dashboard.svg:
 *
 *   (cd packages/core && npx tsup) && EOP_RENDER_DOCS=1 npx vitest run --project kernel test/kernel/prometheus.kernel.test.ts
 *
 * kprobe examples (quick-start, kretprobe-openat) are loaded too: on kernels without kprobes they
 * are Unsupported, which the overview's state and error panels show. No dashboard depends on them.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findCgroup2Mount } from "../../packages/plugin-cgroup/src/cgroup-mount.js";
import { createTestNetwork, type TestNetwork } from "../../packages/plugin-xdp/src/kernel-test-network.js";
import { createWorkspace, repoRoot, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { renderDashboardSvg, toChartSeries, type ChartPanel } from "../helpers/dashboard-svg.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { example, tracepointManifest } from "../helpers/manifests.js";
import { fetchStatus, fetchText, promtoolCheck } from "../helpers/metrics.js";
import { startPrometheus, type Prometheus } from "../helpers/prometheus.js";

requireKernelCapabilities();

const EXAMPLES = [
  "execve-tracepoint.yaml",
  "syscalls-by-name.yaml",
  "read-size-histogram.yaml",
  "xdp-packets.yaml",
  "socket-bytes.yaml",
  "cgroup-egress.yaml",
  "quick-start.yaml",
  "kretprobe-openat.yaml",
];
const RENDER_DOCS = process.env.EOP_RENDER_DOCS === "1";

/** Key bytes `q " b \ n <newline> x <0xff> e`: every character the exposition must escape, and invalid UTF-8. */
const WEIRD_LABELS = `apiVersion: observability.cloud/v1
kind: EbpfMap
metadata:
  name: weird-labels
spec:
  type: tracepoint
  target: syscalls/sys_enter_execve
  program: count_weird
  metrics:
    - name: weird_labels
      help: "Label values with quotes, backslashes, newlines and invalid UTF-8"
      map: weird
      labels:
        - name: text
          field: text
          decoders: [{ name: string }]
  code: |
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    struct text_key { char text[16]; };
    struct {
      __uint(type, BPF_MAP_TYPE_HASH);
      __uint(max_entries, 4);
      __type(key, struct text_key);
      __type(value, u64);
    } weird SEC(".maps");
    SEC("tracepoint/syscalls/sys_enter_execve")
    int count_weird(void *ctx) {
      /* Byte by byte: an initializer list would become a .rodata map, which the loader cannot pin (bpffs refuses dots). */
      struct text_key key = {};
      key.text[0] = 'q'; key.text[1] = '"'; key.text[2] = 'b'; key.text[3] = '\\\\'; key.text[4] = 'n';
      key.text[5] = '\\n'; key.text[6] = 'x'; key.text[7] = (char)0xff; key.text[8] = 'e';
      u64 one = 1, *count = bpf_map_lookup_elem(&weird, &key);
      if (count) __sync_fetch_and_add(count, 1);
      else bpf_map_update_elem(&weird, &key, &one, BPF_ANY);
      return 0;
    }
    char LICENSE[] SEC("license") = "GPL";
`;

interface Dashboard {
  uid: string;
  title: string;
  templating: { list: { name: string; definition?: string }[] };
  panels: { type: string; title: string; fieldConfig?: { defaults?: { unit?: string } }; targets?: { expr: string; legendFormat?: string }[] }[];
}

function dashboards(): Dashboard[] {
  const dir = join(repoRoot, "deploy/grafana/dashboards");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as Dashboard);
}

describe("a real Prometheus scraping the agent that runs the bundled examples", () => {
  let prometheus: Prometheus;
  let network: TestNetwork;
  let workspace: AgentWorkspace;
  let agent: AgentProcess;
  let cgroupDir: string;
  let instance: string;
  let workload: NodeJS.Timeout | undefined;
  const startedS = Date.now() / 1000;

  /** Grafana's variables as a user with everything selected would have them. */
  const fill = (expr: string) =>
    expr
      .replaceAll("$__rate_interval", "1m")
      .replaceAll("$job", "(ebpf-agent)")
      .replaceAll("$instance", instance.replaceAll(".", "\\\\."))
      .replaceAll("$namespace", ".*")
      .replaceAll("$ebpfmap", ".*");

  beforeAll(async () => {
    prometheus = await startPrometheus({ remoteWriteReceiver: true });
    network = await createTestNetwork("p", 252);
    const mount = await findCgroup2Mount();
    if (!mount) throw new Error("kernel tests need a cgroup v2 hierarchy");
    const cgroupName = `eop-test-prometheus-${process.pid}`;
    cgroupDir = join(mount, cgroupName);
    mkdirSync(cgroupDir);
    workspace = createWorkspace("prometheus");
    mkdirSync(workspace.configDir, { recursive: true });
    for (const file of EXAMPLES) {
      let manifest = example(file);
      // The machine's own interfaces and cgroups stay untouched: a veth and a cgroup made here.
      if (file === "xdp-packets.yaml") manifest = manifest.replace(/^ {2}target: .*$/m, `  target: xdp/${network.hostIf}`);
      if (file === "cgroup-egress.yaml") manifest = manifest.replace(/^ {2}target: .*$/m, `  target: cgroup/skb/egress:/${cgroupName}`);
      writeFileSync(join(workspace.configDir, file), manifest);
    }
    writeFileSync(join(workspace.configDir, "weird-labels.yaml"), WEIRD_LABELS);
    // A resource that fails everywhere, so the error panels have something to show on any kernel.
    writeFileSync(
      join(workspace.configDir, "broken.yaml"),
      tracepointManifest({ name: "broken-program-name", program: "count_exec", metric: "broken-example" }),
    );
    agent = await startAgent(workspace, [
      "--remote-write-url",
      prometheus.remoteWriteUrl,
      "--remote-write-interval",
      "2s",
      "--remote-write-label",
      "job=ebpf-agent-remote-write",
      "--remote-write-label",
      "instance=remote-write",
    ]);
    instance = new URL(agent.url).host;
    // Prometheus' scrapes (TCP over lo) are the cgroup-egress example's traffic.
    writeFileSync(join(cgroupDir, "cgroup.procs"), String(prometheus.child.pid));
    prometheus.addTarget(instance);
    // The workload: execs (execve, syscalls, reads) and UDP through the veth (XDP).
    let tick = 0;
    workload = setInterval(() => {
      for (let i = 0; i < 3; i++) spawn("/bin/true", { stdio: "ignore" });
      if (tick++ % 3 === 0) network.sendUdp(3, 64).catch(() => undefined);
    }, 300);
    await waitFor(
      "every resource to settle",
      async () => {
        const status = await fetchStatus(agent.url);
        return status.ready && status.resources.length === EXAMPLES.length + 2 && status.resources.every((r) => r.phase !== "Pending") ? status : undefined;
      },
      120_000,
    );
  }, 180_000);

  afterAll(async () => {
    clearInterval(workload);
    try {
      await agent?.stop();
      await prometheus?.stop(); // leaves the cgroup empty
    } finally {
      workspace?.cleanup();
      await network?.remove();
      if (cgroupDir) rmdirSync(cgroupDir);
    }
  });

  it("has execve_counter_total with the resource's namespace and ebpfmap, rising while /bin/true runs", async () => {
    const rate = await prometheus.waitFor(
      'rate(execve_counter_total{job="ebpf-agent",namespace="default",ebpfmap="execve-tracepoint"}[1m]) > 0',
      (r) => r.length === 1,
    );
    expect(rate[0]!.metric).toMatchObject({ namespace: "default", ebpfmap: "execve-tracepoint", job: "ebpf-agent", instance });
    expect(Number(rate[0]!.value![1])).toBeGreaterThan(0);
  });

  it("receives the same series by remote-write, queryable under the remote-write job", async () => {
    const pushed = await prometheus.waitFor('execve_counter_total{job="ebpf-agent-remote-write"}', (r) => r.length === 1);
    expect(pushed[0]!.metric).toEqual({
      __name__: "execve_counter_total",
      namespace: "default",
      ebpfmap: "execve-tracepoint",
      job: "ebpf-agent-remote-write",
      instance: "remote-write",
    });
    // Every scraped agent series arrives by remote-write too (histograms included).
    // The same series arrive both ways (new ones, e.g. a new command's histogram, within a push or two).
    const names = '__name__=~"ebpf_operator_program_run_count_total|ebpf_operator_map_entries|execve_counter_total|xdp_packets_total"';
    const counts = async (): Promise<[number, number]> => {
      const [scraped, pushed] = await Promise.all(["ebpf-agent", "ebpf-agent-remote-write"].map((job) => prometheus.query(`count({job="${job}",${names}})`)));
      return [Number(scraped?.[0]?.value?.[1] ?? 0), Number(pushed?.[0]?.value?.[1] ?? -1)];
    };
    await waitFor("the pushed series to match the scraped ones", async () => {
      const [scraped, pushed] = await counts();
      return scraped === pushed && scraped > 0 ? true : undefined;
    });
    await prometheus.waitFor('ebpf_operator_agent_remote_write_sent_samples_total{job="ebpf-agent"} > 0', (r) => r.length === 1);
    const dropped = await prometheus.query('sum(ebpf_operator_agent_remote_write_dropped_samples_total{job="ebpf-agent"})');
    expect(Number(dropped[0]!.value![1])).toBe(0);
  });

  it("serves label values with quotes, backslashes, newlines and invalid UTF-8 in an exposition promtool accepts and Prometheus ingests", async () => {
    const expected = 'q"b\\n\nx\uFFFDe';
    const body = (await fetchText(`${agent.url}/metrics`)).body;
    expect(body).toContain('weird_labels_total{namespace="default",ebpfmap="weird-labels",text="q\\"b\\\\n\\nx\uFFFDe"}');
    expect(promtoolCheck(body).problems).toEqual([]);
    const series = await prometheus.waitFor('weird_labels_total{job="ebpf-agent"}', (r) => r.length === 1);
    expect(series[0]!.metric.text).toBe(expected);
    const pushed = await prometheus.waitFor('weird_labels_total{job="ebpf-agent-remote-write"}', (r) => r.length === 1);
    expect(pushed[0]!.metric.text).toBe(expected);
  });

  it("answers every query of every dashboard, with the variables filled, with data", async () => {
    // rate() over histograms and counters needs a few scrapes of the workload.
    await prometheus.waitFor('count_over_time(up{job="ebpf-agent"}[1m]) >= 5', (r) => r.length === 1, 60_000);
    // Every variable and panel query, each retried until it has data: on a busy machine a scrape
    // can miss, and a rate() needs two samples in its window.
    const probes = new Map<string, () => Promise<boolean>>();
    for (const dashboard of dashboards()) {
      for (const variable of dashboard.templating.list) {
        const match = /^label_values\((.+),\s*(\w+)\)$/.exec(variable.definition ?? "");
        if (!match) continue;
        probes.set(
          `${dashboard.uid} variable $${variable.name}: ${variable.definition}`,
          async () => (await prometheus.labelValues(match[2]!, fill(match[1]!))).length > 0,
        );
      }
      for (const panel of dashboard.panels) {
        for (const target of panel.targets ?? []) {
          probes.set(`${dashboard.uid} "${panel.title}": ${fill(target.expr)}`, async () => (await prometheus.query(fill(target.expr))).length > 0);
        }
      }
    }
    expect(probes.size).toBeGreaterThan(10);
    const deadline = Date.now() + 90_000;
    let empty = [...probes.keys()];
    while (empty.length > 0 && Date.now() < deadline) {
      const answered = await Promise.all(empty.map((what) => probes.get(what)!()));
      empty = empty.filter((_, i) => !answered[i]);
      if (empty.length > 0) await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
    expect(empty).toEqual([]);
  }, 180_000);

  it("shows the kernel's run time per event, map fill and the failed resource's error code", async () => {
    const cost = await prometheus.query(
      'rate(ebpf_operator_program_run_time_seconds_total{ebpfmap="syscalls-by-name"}[1m]) * 1e9 / rate(ebpf_operator_program_run_count_total{ebpfmap="syscalls-by-name"}[1m])',
    );
    // Tens to hundreds of ns per run for a per-CPU hash update; anything in (0, 100 µs) is sane.
    expect(Number(cost[0]!.value![1])).toBeGreaterThan(0);
    expect(Number(cost[0]!.value![1])).toBeLessThan(100_000);
    const fillRatio = await prometheus.query(
      'ebpf_operator_map_entries{ebpfmap="syscalls-by-name"} / ebpf_operator_map_max_entries{ebpfmap="syscalls-by-name"}',
    );
    expect(Number(fillRatio[0]!.value![1])).toBeGreaterThan(0);
    expect(Number(fillRatio[0]!.value![1])).toBeLessThanOrEqual(1);
    const errors = await prometheus.query('ebpf_operator_agent_last_error_info{job="ebpf-agent",ebpfmap="broken-program-name"}');
    expect(errors.map((e) => e.metric.code)).toEqual(["EOP_ERR_PROGRAM_NOT_FOUND"]);
  });

  it("draws the overview dashboard's data as SVG (docs/overview-dashboard.svg with EOP_RENDER_DOCS=1)", async () => {
    // For the committed picture, let a minute of workload accumulate first.
    if (RENDER_DOCS) await new Promise((r) => setTimeout(r, Math.max(0, startedS * 1000 + 75_000 - Date.now())));
    const overview = dashboards().find((d) => d.uid === "ebpf-operator-overview")!;
    const end = Date.now() / 1000;
    const start = Math.max(startedS, end - 300);
    const panels: ChartPanel[] = [];
    for (const panel of overview.panels.filter((p) => p.type === "timeseries")) {
      const series: ChartPanel["series"] = [];
      for (const target of panel.targets ?? []) {
        series.push(...toChartSeries(await prometheus.queryRange(fill(target.expr).replaceAll("[1m]", "[15s]"), start, end, 2), target.legendFormat ?? ""));
      }
      panels.push({ title: panel.title, unit: panel.fieldConfig?.defaults?.unit, series });
    }
    const svg = renderDashboardSvg(
      overview.title,
      `Rendered from a real Prometheus scraping the agent running examples/ (${new Date(end * 1000).toISOString().slice(0, 10)})`,
      panels,
    );
    expect(svg.match(/<polyline /g)?.length ?? 0).toBeGreaterThanOrEqual(panels.length);
    if (RENDER_DOCS) writeFileSync(join(repoRoot, "docs/overview-dashboard.svg"), svg);
  }, 120_000);
});
