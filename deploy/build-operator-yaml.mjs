#!/usr/bin/env node
/**
 * Builds the generated install files from their parts (plain Node, no dependencies):
 *
 *   deploy/operator.yaml                 deploy/crds/*.yaml + deploy/manifests/*.yaml, in file
 *                                        name order: the one-file install
 *                                        (`kubectl apply -f deploy/operator.yaml`)
 *   deploy/operator-pod-network.yaml     the same with the agent able to run pod-scoped xdp and
 *                                        socket programs (the chart's agent.podNetworkScope:
 *                                        true): POD_NETWORK_EDITS applied to its DaemonSet
 *   deploy/helm/ebpf-operator/crds/      a copy of deploy/crds/*.yaml (Helm installs CRDs from
 *                                        a chart's crds/ directory before its templates)
 *
 *   node deploy/build-operator-yaml.mjs           write them
 *   node deploy/build-operator-yaml.mjs --check   write nothing; exit 1 and name every file
 *                                                 that is out of date (the tests run this)
 *
 * deploy/monitoring/ (the ServiceMonitors) is left out of operator.yaml on purpose: clusters
 * without the Prometheus Operator have no ServiceMonitor kind, and `kubectl apply` would fail.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const deployDir = dirname(fileURLToPath(import.meta.url));
const repoDir = join(deployDir, "..");
const crdDir = join(deployDir, "crds");
const manifestDir = join(deployDir, "manifests");
const helmCrdDir = join(deployDir, "helm", "ebpf-operator", "crds");
const operatorYaml = join(deployDir, "operator.yaml");
const podNetworkYaml = join(deployDir, "operator-pod-network.yaml");
const agentDaemonSet = join(manifestDir, "40-agent-daemonset.yaml");

/**
 * What pod-scoped xdp/socket programs need of the agent (docs/pod-scope.md): the host's PID
 * namespace (to find a pod's process), CAP_SYS_PTRACE (to open its /proc/<pid>/ns/net) and
 * CAP_SYS_ADMIN (to enter it); Kubernetes refuses allowPrivilegeEscalation: false beside
 * CAP_SYS_ADMIN. The chart's agent.podNetworkScope does the same. Each edit must match exactly
 * once: a changed DaemonSet fails the build rather than yielding a half-edited variant.
 */
const POD_NETWORK_EDITS = [
  [
    `# No CAP_SYS_ADMIN and not privileged: none of the built-in types needs it on kernels >= 5.8
# (which have CAP_BPF and CAP_PERFMON). Older kernels need CAP_SYS_ADMIN for all of it; the Helm
# chart's agent.capabilities value is where to add it.
#
# The agent runs as uid 0 (bpffs, tracefs and the cgroup hierarchy are owned by root) but with
# only the capabilities above: no CAP_DAC_OVERRIDE, CAP_SYS_PTRACE, CAP_SYS_MODULE, ...
`,
    `# This variant (deploy/operator-pod-network.yaml) adds CAP_SYS_ADMIN and CAP_SYS_PTRACE and the
# host's PID namespace: pod-scoped xdp/socket programs are attached inside each pod's network
# namespace, which the agent finds through /proc/<pid>/ns/net and enters (docs/pod-scope.md).
# Not privileged. Without pod network scope use deploy/operator.yaml, which has neither.
#
# The agent runs as uid 0 (bpffs, tracefs and the cgroup hierarchy are owned by root) but with
# only the capabilities above and those two: no CAP_DAC_OVERRIDE, CAP_SYS_MODULE, ...
`,
  ],
  [
    `      # Not needed: tracepoints and kprobes see every process whatever the PID namespace, and
      # the agent reads only /proc/self/mountinfo and /proc/kallsyms, which its own /proc has.
      hostPID: false
`,
    `      # Pod-scoped xdp/socket programs: the agent finds a selected pod's process in the host's
      # PID namespace and opens its /proc/<pid>/ns/net (deploy/operator-pod-network.yaml).
      hostPID: true
`,
  ],
  ["            allowPrivilegeEscalation: false\n", "            allowPrivilegeEscalation: true # refused with false beside SYS_ADMIN\n"],
  [
    '              add: ["BPF", "PERFMON", "NET_ADMIN", "NET_RAW"]\n',
    '              add: ["BPF", "PERFMON", "NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE"] # + enter and open pods\' network namespaces\n',
  ],
];

function podNetworkAgent(text) {
  return POD_NETWORK_EDITS.reduce((out, [from, to]) => {
    const count = out.split(from).length - 1;
    if (count !== 1) throw new Error(`deploy/manifests/40-agent-daemonset.yaml: expected one ${JSON.stringify(from.trim())}, found ${count}: update POD_NETWORK_EDITS`);
    return out.replace(from, to);
  }, text);
}

const yamlFiles = (dir) =>
  readdirSync(dir)
    .filter((name) => name.endsWith(".yaml"))
    .sort()
    .map((name) => join(dir, name));

/** A part's documents without leading `---` separators and trailing blank lines. */
function part(file) {
  const text = readFileSync(file, "utf8").replace(/\r\n/g, "\n");
  return text.replace(/^(---\s*\n)+/, "").replace(/\n(---\s*\n?)+$/, "\n").trimEnd() + "\n";
}

function buildOperatorYaml(podNetwork = false) {
  const parts = [...yamlFiles(crdDir), ...yamlFiles(manifestDir)];
  const header = [
    "# ebpf-operator: everything in one file (CRDs, namespace, RBAC, operator, agent).",
    `#   kubectl apply -f deploy/${podNetwork ? "operator-pod-network.yaml" : "operator.yaml"}`,
    ...(podNetwork
      ? [
          "# deploy/operator.yaml with an agent that can run pod-scoped xdp and socket programs: the",
          "# host's PID namespace, CAP_SYS_ADMIN and CAP_SYS_PTRACE (docs/deploy.md, docs/pod-scope.md).",
        ]
      : []),
    "# Generated by deploy/build-operator-yaml.mjs from deploy/crds/ and deploy/manifests/:",
    "# edit those and run `node deploy/build-operator-yaml.mjs`, not this file.",
    "# The ServiceMonitors (Prometheus Operator) are separate: deploy/monitoring/servicemonitor.yaml.",
    "",
  ].join("\n");
  const body = parts
    .map((file) => {
      const text = podNetwork && file === agentDaemonSet ? podNetworkAgent(part(file)) : part(file);
      return `---\n# Source: deploy/${relative(deployDir, file)}${podNetwork && file === agentDaemonSet ? " (POD_NETWORK_EDITS applied)" : ""}\n${text}`;
    })
    .join("");
  return header + body;
}

/** Every generated file and the content it must have. */
function expectedFiles() {
  const files = new Map([
    [operatorYaml, buildOperatorYaml()],
    [podNetworkYaml, buildOperatorYaml(true)],
  ]);
  for (const crd of yamlFiles(crdDir)) files.set(join(helmCrdDir, basename(crd)), readFileSync(crd, "utf8"));
  return files;
}

const check = process.argv.includes("--check");
const expected = expectedFiles();
const stale = [];
for (const [file, content] of expected) {
  const current = existsSync(file) ? readFileSync(file, "utf8") : undefined;
  if (current === content) continue;
  stale.push(file);
  if (!check) {
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, content);
  }
}
// CRDs that no longer exist in deploy/crds must not linger in the chart.
if (existsSync(helmCrdDir)) {
  for (const file of yamlFiles(helmCrdDir)) {
    if (expected.has(file)) continue;
    stale.push(file);
    if (!check) rmSync(file);
  }
}

const names = stale.map((file) => relative(repoDir, file));
if (check) {
  if (names.length > 0) {
    process.stderr.write(`out of date (run: node deploy/build-operator-yaml.mjs): ${names.join(", ")}\n`);
    process.exit(1);
  }
  process.stdout.write("deploy/operator.yaml, deploy/operator-pod-network.yaml and the chart's CRDs are up to date\n");
} else {
  process.stdout.write(names.length > 0 ? `wrote ${names.join(", ")}\n` : "nothing to do: already up to date\n");
}
