/**
 * deploy/ on a real kube-apiserver + etcd, with the real kubectl and helm:
 *
 * - the generated files are up to date (operator.yaml, the chart's crds/), the Helm chart's RBAC
 *   and pod specs equal the plain manifests', and the Dockerfiles are well-formed (no container
 *   engine here: they are checked structurally, never built);
 * - deploy/operator.yaml applies server-side as real objects (and the ServiceMonitors once a
 *   minimal ServiceMonitor CRD is installed);
 * - the RBAC lets the operator's and the agent's ServiceAccounts do what their code does and no
 *   more (`kubectl auth can-i --as=system:serviceaccount:...`), and the operator's and agent's
 *   own API code actually works with those ServiceAccounts' tokens;
 * - the chart lints, renders with default and non-default values into objects the API server
 *   accepts (--dry-run=server), and installs and uninstalls.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { KubeConfig, type V1Node } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { API_GROUP_VERSION, BUILTIN_PLUGINS, KIND, createLogger, type ResourceStatus } from "@ebpf-operator/core";
import {
  ALLOW_KERNEL_WIDE_LABEL,
  EBPFMAP_PLURAL,
  Informer,
  NodeStatusWriter,
  ObjectStore,
  checkMemoryBudget,
  parseSize,
  startOperator,
  type EbpfMapObject,
  type RunningOperator,
} from "@ebpf-operator/operator";
import { attachControlPlane, deleteNamespace, repoRoot } from "../helpers/kube/control-plane.js";
import { condition, eventually, getEbpfMap } from "../helpers/kube/resources.js";
import { tracepointManifest } from "../helpers/manifests.js";

const execFileAsync = promisify(execFile);
const cp = attachControlPlane();
const deploy = join(repoRoot, "deploy");
const chart = join(deploy, "helm", "ebpf-operator");
const SYSTEM = "ebpf-operator-system";
const OPERATOR_SA = `system:serviceaccount:${SYSTEM}:ebpf-operator`;
const AGENT_SA = `system:serviceaccount:${SYSTEM}:ebpf-operator-agent`;
const TENANT = "eop-deploy-tenant";
const NODE = "eop-deploy-node";
const logger = createLogger({ level: (process.env.EOP_TEST_LOG_LEVEL as "info" | undefined) ?? "silent" });

// ---------------------------------------------------------------------------------------------
// Helpers

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

function documents(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === "object" && "kind" in o);
}

const byKindName = (objects: KubeObject[], kind: string, name: string): KubeObject => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")}`);
  return found;
};

const helmOk = async (args: string[], input?: string): Promise<string> => {
  const result = await cp.helm(args, input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`helm ${args.join(" ")} exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
};

/** `kubectl auth can-i` as `user`: "yes" or "no". `target` is `resource`, `resource/name` or with `--subresource`. */
async function canI(user: string, verb: string, target: string, namespace?: string, subresource?: string): Promise<string> {
  const args = [
    "auth",
    "can-i",
    verb,
    target,
    `--as=${user}`,
    ...(namespace ? ["-n", namespace] : []),
    ...(subresource ? [`--subresource=${subresource}`] : []),
  ];
  const result = await cp.kubectl(args);
  const answer = result.stdout.trim().split("\n")[0] ?? "";
  if (answer !== "yes" && answer !== "no") throw new Error(`kubectl ${args.join(" ")}: ${result.stdout} ${result.stderr}`);
  return answer;
}

type Check = [verb: string, target: string, namespace?: string, subresource?: string];

/** Every check's answer, as "verb target [-n ns] [sub] -> yes|no" lines (readable diffs on failure). */
async function answers(user: string, checks: Check[]): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < checks.length; i += 6) {
    const chunk = checks.slice(i, i + 6);
    const results = await Promise.all(chunk.map(([verb, target, ns, sub]) => canI(user, verb, target, ns, sub)));
    chunk.forEach(([verb, target, ns, sub], j) => out.push(`${verb} ${target}${ns ? ` -n ${ns}` : ""}${sub ? ` sub=${sub}` : ""} -> ${results[j]}`));
  }
  return out;
}

const expectAll = async (user: string, checks: Check[], expected: "yes" | "no") => {
  const got = await answers(user, checks);
  expect(got).toEqual(got.map((line) => line.replace(/-> (yes|no)$/, `-> ${expected}`)));
};

/**
 * A kubeconfig that authenticates with a token of the ServiceAccount (TokenRequest API); bound to
 * a Pod when `boundPod` is given, as the kubelet's projected tokens are (the API server then puts
 * the pod's node in the token: the agent's node claim).
 */
async function serviceAccountKubeconfig(dir: string, name: string, boundPod?: string): Promise<string> {
  const binding = boundPod ? ["--bound-object-kind=Pod", `--bound-object-name=${boundPod}`] : [];
  const token = (await cp.kubectlOk(["create", "token", name, "-n", SYSTEM, "--duration=1h", ...binding])).trim();
  const path = join(dir, `${name}${boundPod ? `-${boundPod}` : ""}.kubeconfig`);
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "testenv", cluster: { server: cp.server, "certificate-authority-data": readFileSync(cp.caFile).toString("base64") } }],
      users: [{ name, user: { token } }],
      contexts: [{ name, context: { cluster: "testenv", user: name } }],
      "current-context": name,
    }),
    { mode: 0o600 },
  );
  return path;
}

function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** The minimal ServiceMonitor CRD: the kind and its v1 version, fields kept as given. */
const SERVICE_MONITOR_CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: { kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor }
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              x-kubernetes-preserve-unknown-fields: true
`;

/** A minimal cert-manager CRD (the chart's tls.provider=cert-manager renders Certificates and Issuers). */
const certManagerCrd = (kind: string) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${kind.toLowerCase()}s.cert-manager.io
spec:
  group: cert-manager.io
  scope: Namespaced
  names: { kind: ${kind}, listKind: ${kind}List, plural: ${kind.toLowerCase()}s, singular: ${kind.toLowerCase()} }
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              x-kubernetes-preserve-unknown-fields: true
`;

/** Cluster-scoped objects of a set of manifests (to delete them afterwards), CRDs excepted. */
function clusterScoped(objects: KubeObject[]): string[] {
  return objects
    .filter((o) => !o.metadata.namespace && o.kind !== "CustomResourceDefinition" && o.kind !== "Namespace")
    .map((o) => `${o.kind.toLowerCase()}.${o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : ""}/${o.metadata.name}`.replace("./", "/"));
}

const operatorYaml = () => readFileSync(join(deploy, "operator.yaml"), "utf8");
const podNetworkYaml = () => readFileSync(join(deploy, "operator-pod-network.yaml"), "utf8");

beforeAll(async () => {
  await cp.kubectlOk(["apply", "-f", "-"], { input: SERVICE_MONITOR_CRD });
  await cp.kubectlOk(["wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=60s"]);
  for (const kind of ["Certificate", "Issuer"]) await cp.kubectlOk(["apply", "-f", "-"], { input: certManagerCrd(kind) });
  await cp.kubectlOk(["wait", "--for=condition=Established", "crd/certificates.cert-manager.io", "crd/issuers.cert-manager.io", "--timeout=60s"]);
});

afterAll(async () => {
  await cp.kubectl([
    "delete",
    "crd",
    "servicemonitors.monitoring.coreos.com",
    "certificates.cert-manager.io",
    "issuers.cert-manager.io",
    "--ignore-not-found",
    "--wait=true",
  ]);
});

// ---------------------------------------------------------------------------------------------

describe("deploy/ files", () => {
  it("operator.yaml and the chart's crds/ are up to date with deploy/crds and deploy/manifests", async () => {
    const { stdout } = await execFileAsync(process.execPath, [join(deploy, "build-operator-yaml.mjs"), "--check"]);
    expect(stdout).toContain("up to date");
    const all = documents(operatorYaml());
    // CRDs first (the rest may refer to them), then the namespace, then everything in it.
    const crds = readdirSync(join(deploy, "crds")).length;
    expect(crds).toBe(3); // EbpfMap, EbpfMapNodeStatus, EbpfTenancyPolicy
    expect(all.slice(0, crds).map((o) => o.kind)).toEqual(new Array(crds).fill("CustomResourceDefinition"));
    expect(all[crds]).toMatchObject({ kind: "Namespace", metadata: { name: SYSTEM } });
    for (const file of readdirSync(join(deploy, "crds"))) {
      expect(readFileSync(join(chart, "crds", file), "utf8")).toBe(readFileSync(join(deploy, "crds", file), "utf8"));
    }
    // The ServiceMonitor needs the Prometheus Operator's CRD: kept out of the one-file install.
    expect(all.some((o) => o.kind === "ServiceMonitor")).toBe(false);
  });

  it("the Helm chart renders the same RBAC rules and pod specs as the plain manifests", async () => {
    const plain = documents(operatorYaml());
    const rendered = documents(await helmOk(["template", "ebpf-operator", chart, "-n", SYSTEM]));
    for (const [kind, name] of [
      ["ClusterRole", "ebpf-operator"],
      ["Role", "ebpf-operator"],
      ["ClusterRole", "ebpf-operator-agent"],
      ["Role", "ebpf-operator-agent"],
      ["ClusterRole", "ebpf-operator-edit"],
      ["ClusterRole", "ebpf-operator-view"],
      ["ClusterRole", "ebpf-operator-metrics-reader"],
      ["Role", "ebpf-operator-serving-ca-reader"],
    ] as const) {
      expect(byKindName(rendered, kind, name).rules, `${kind} ${name}`).toEqual(byKindName(plain, kind, name).rules);
      expect(byKindName(rendered, kind, name).metadata.labels).toMatchObject(
        Object.fromEntries(Object.entries(byKindName(plain, kind, name).metadata.labels ?? {}).filter(([k]) => k.startsWith("rbac."))),
      );
    }
    for (const [kind, name] of [
      ["ClusterRoleBinding", "ebpf-operator"],
      ["RoleBinding", "ebpf-operator"],
      ["ClusterRoleBinding", "ebpf-operator-agent"],
      ["RoleBinding", "ebpf-operator-agent"],
      ["ClusterRoleBinding", "ebpf-operator-auth-delegator"],
      ["ClusterRoleBinding", "ebpf-operator-agent-auth-delegator"],
      ["RoleBinding", "ebpf-operator-serving-ca-reader"],
    ] as const) {
      const strip = (o: KubeObject) => ({ roleRef: o.roleRef, subjects: o.subjects });
      expect(strip(byKindName(rendered, kind, name)), `${kind} ${name}`).toEqual(strip(byKindName(plain, kind, name)));
    }
    type PodSpec = { containers: Record<string, unknown>[]; initContainers?: unknown[]; affinity?: unknown } & Record<string, unknown>;
    const podSpec = (o: KubeObject) => (o.spec as { template: { spec: PodSpec } }).template.spec;
    // Equal but for labels (Helm adds its own) and the image (tag from the chart's appVersion).
    const comparable = (spec: PodSpec) => ({ ...spec, affinity: undefined, containers: spec.containers.map((c) => ({ ...c, image: undefined })) });
    for (const [kind, name] of [
      ["Deployment", "ebpf-operator"],
      ["DaemonSet", "ebpf-operator-agent"],
    ] as const) {
      expect(comparable(podSpec(byKindName(rendered, kind, name))), `${kind} ${name}`).toEqual(comparable(podSpec(byKindName(plain, kind, name))));
      expect(podSpec(byKindName(rendered, kind, name)).containers.map((c) => c.image)).toEqual(
        podSpec(byKindName(plain, kind, name)).containers.map((c) => c.image),
      );
    }
    // By default the agent sees neither the host's processes nor their namespaces (agent.podNetworkScope).
    expect(podSpec(byKindName(rendered, "DaemonSet", "ebpf-operator-agent")).hostPID).toBe(false);
    expect(JSON.stringify(podSpec(byKindName(rendered, "DaemonSet", "ebpf-operator-agent")).containers)).not.toMatch(/SYS_ADMIN|SYS_PTRACE/);
  });

  it("operator-pod-network.yaml is operator.yaml but for the agent's pod-network privileges, the pod spec the chart renders with agent.podNetworkScope", async () => {
    const plain = documents(operatorYaml());
    const variant = documents(podNetworkYaml());
    const isAgent = (o: KubeObject) => o.kind === "DaemonSet" && o.metadata.name === "ebpf-operator-agent";
    expect(variant.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(plain.map((o) => `${o.kind}/${o.metadata.name}`));
    expect(variant.filter((o) => !isAgent(o))).toEqual(plain.filter((o) => !isAgent(o)));
    type PodSpec = { hostPID: boolean; containers: ({ securityContext: { capabilities: { add: string[] } } } & Record<string, unknown>)[] } & Record<
      string,
      unknown
    >;
    const podSpec = (o: KubeObject) => (o.spec as { template: { spec: PodSpec } }).template.spec;
    const comparable = (spec: PodSpec) => ({ ...spec, affinity: undefined, containers: spec.containers.map((c) => ({ ...c, image: undefined })) });
    const rendered = documents(await helmOk(["template", "ebpf-operator", chart, "-n", SYSTEM, "--set", "agent.podNetworkScope=true"]));
    const agent = podSpec(byKindName(variant, "DaemonSet", "ebpf-operator-agent"));
    expect(comparable(agent)).toEqual(comparable(podSpec(byKindName(rendered, "DaemonSet", "ebpf-operator-agent"))));
    expect(agent.hostPID).toBe(true);
    expect(agent.containers[0]!.securityContext).toMatchObject({
      allowPrivilegeEscalation: true,
      privileged: false,
      capabilities: { drop: ["ALL"], add: ["BPF", "PERFMON", "NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE"] },
    });
    // The rest of the DaemonSet is the plain one's (labels, strategy, volumes).
    const withoutPod = (o: KubeObject) => ({ ...o, spec: { ...(o.spec as object), template: undefined } });
    expect(withoutPod(byKindName(variant, "DaemonSet", "ebpf-operator-agent"))).toEqual(withoutPod(byKindName(plain, "DaemonSet", "ebpf-operator-agent")));
  });

  it("the operator's pod keeps the ServiceAccount token out of the compiler container, in the manifests and the chart", async () => {
    type Container = {
      name: string;
      args: string[];
      volumeMounts?: { name: string; mountPath: string }[];
      env?: { valueFrom?: { secretKeyRef?: unknown } }[];
      envFrom?: unknown[];
      resources: { limits: { memory: string } };
      securityContext: Record<string, unknown>;
    };
    type Volume = { name: string; projected?: { sources: Record<string, unknown>[] }; secret?: unknown; emptyDir?: { medium?: string } };
    const rendered = documents(await helmOk(["template", "ebpf-operator", chart, "-n", SYSTEM]));
    for (const [source, objects] of [
      ["operator.yaml", documents(operatorYaml())],
      ["helm", rendered],
    ] as const) {
      const spec = (
        byKindName(objects, "Deployment", "ebpf-operator").spec as {
          template: { spec: { automountServiceAccountToken: boolean; containers: Container[]; volumes: Volume[] } };
        }
      ).template.spec;
      expect(spec.automountServiceAccountToken, source).toBe(false);
      const container = (name: string) => spec.containers.find((c) => c.name === name)!;
      const tokenVolumes = new Set(
        spec.volumes.filter((v) => v.secret !== undefined || v.projected?.sources.some((s) => "serviceAccountToken" in s || "secret" in s)).map((v) => v.name),
      );
      // The operator: the token where automounting would put it, and its serving certificate.
      expect(
        container("operator")
          .volumeMounts!.filter((m) => tokenVolumes.has(m.name))
          .map((m) => m.mountPath),
        source,
      ).toEqual(["/var/run/secrets/kubernetes.io/serviceaccount", "/etc/ebpf-operator/tls"]);
      // The compiler: no token, no Secret, nothing under /var/run/secrets, no secret env.
      const compiler = container("compiler");
      expect(compiler.args[0]).toBe("compile-server");
      expect(
        compiler.volumeMounts!.filter((m) => tokenVolumes.has(m.name) || m.mountPath.startsWith("/var/run/secrets")),
        source,
      ).toEqual([]);
      expect(compiler.envFrom ?? [], source).toEqual([]);
      expect(
        (compiler.env ?? []).filter((e) => e.valueFrom?.secretKeyRef !== undefined),
        source,
      ).toEqual([]);
      // They share only the socket's volume, in memory.
      const shared = compiler.volumeMounts!.map((m) => m.name).filter((n) => container("operator").volumeMounts!.some((m) => m.name === n));
      expect(shared, source).toEqual(["compiler-socket"]);
      expect(spec.volumes.find((v) => v.name === "compiler-socket")?.emptyDir?.medium).toBe("Memory");
      const socket = "/run/ebpf-compiler/compiler.sock";
      expect(container("operator").args).toContain(`--compiler-socket=${socket}`);
      expect(compiler.args).toContain(`--socket=${socket}`);
      // Non-root, no capabilities; seccomp/AppArmor unconfined only so bubblewrap can build its sandbox.
      expect(compiler.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ["ALL"] },
      });
      // The compile server's own start-up check passes for these numbers (it refuses a budget above the limit).
      const arg = (flag: string) => compiler.args.find((a) => a.startsWith(`--${flag}=`))!.split("=")[1]!;
      const budget = {
        concurrency: Number(arg("concurrency")),
        memoryLimitBytes: parseSize("memory-limit", arg("memory-limit")),
        tmpBytes: parseSize("tmp-size", arg("tmp-size")),
        reserveBytes: 256 * 1024 * 1024,
      };
      expect(checkMemoryBudget(parseSize("limit", compiler.resources.limits.memory), budget), source).toBeUndefined();
      expect(checkMemoryBudget(parseSize("limit", compiler.resources.limits.memory), { ...budget, concurrency: budget.concurrency + 2 })).toMatch(
        /above the container's memory limit/,
      );
    }
  });

  describe("Dockerfiles (checked structurally: no container engine on this machine)", () => {
    interface Instruction {
      op: string;
      args: string;
    }
    const parse = (file: string): Instruction[] =>
      readFileSync(file, "utf8")
        .replace(/\\\n/g, " ")
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line !== "" && !line.startsWith("#"))
        .map((line) => {
          const [op, ...rest] = line.split(/\s+/);
          return { op: op!.toUpperCase(), args: rest.join(" ") };
        });
    const ignored = (file: string) =>
      readFileSync(`${file}.dockerignore`, "utf8")
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith("#"));
    const operatorBin = (JSON.parse(readFileSync(join(repoRoot, "packages/operator/package.json"), "utf8")) as { bin: Record<string, string> }).bin[
      "ebpf-operator"
    ];

    for (const [image, command] of [
      ["operator", "run"],
      ["agent", "agent"],
    ] as const) {
      it(`${image}.Dockerfile: pinned Node LTS base, COPY sources in the context, runs \`ebpf-operator ${command}\``, () => {
        const file = join(deploy, "docker", `${image}.Dockerfile`);
        const steps = parse(file);
        // Base image: an ARG default, pinned to a full Node 22/24 version on Debian bookworm.
        const args = new Map(steps.filter((s) => s.op === "ARG" && s.args.includes("=")).map((s) => s.args.split("=", 2) as [string, string]));
        const stages: string[] = [];
        for (const from of steps.filter((s) => s.op === "FROM")) {
          const [ref, as, name] = from.args.split(/\s+/);
          const resolved = ref!.replace(/^\$\{(\w+)\}$/, (_, arg: string) => args.get(arg) ?? `unset ${arg}`);
          expect(resolved).toMatch(/^node:(22|24)\.\d+\.\d+-bookworm-slim$/);
          expect(as?.toUpperCase()).toBe("AS");
          stages.push(name!);
        }
        expect(stages).toEqual(["build", "runtime"]);
        // COPY: every context source exists and is not excluded by the .dockerignore;
        // --from names a stage defined before.
        const excluded = ignored(file);
        for (const copy of steps.filter((s) => s.op === "COPY")) {
          const parts = copy.args.split(/\s+/);
          const from = parts.find((p) => p.startsWith("--from="));
          const paths = parts.filter((p) => !p.startsWith("--"));
          const sources = paths.slice(0, -1);
          expect(sources.length).toBeGreaterThan(0);
          if (from) {
            expect(stages.slice(0, -1)).toContain(from.slice("--from=".length));
            continue;
          }
          for (const source of sources) {
            expect(existsSync(join(repoRoot, source)), `COPY ${source}`).toBe(true);
            expect(
              excluded.filter((pattern) => pattern === source || pattern === `${source.split("/")[0]}`),
              `${source} is excluded by the .dockerignore`,
            ).toEqual([]);
          }
        }
        // Built in the build stage: dependencies from the lock, the addon and the TypeScript.
        const froms = steps.flatMap((s, i) => (s.op === "FROM" ? [i] : []));
        const build = steps.slice(froms[0], froms[1]);
        const runs = build
          .filter((s) => s.op === "RUN")
          .map((s) => s.args)
          .join("\n");
        expect(runs).toContain("npm install --no-audit --no-fund");
        expect(runs).toContain("npm run build");
        expect(runs).toMatch(/libbpf-dev/);
        // Runs the operator package's CLI with the right command.
        const runtime = steps.slice(froms[1]);
        const entrypoint = JSON.parse(runtime.find((s) => s.op === "ENTRYPOINT")!.args) as string[];
        expect(entrypoint).toEqual(["node", join("/app/packages/operator", operatorBin!)]);
        expect(JSON.parse(runtime.find((s) => s.op === "CMD")!.args)).toEqual([command]);
        expect(existsSync(join(repoRoot, "packages/operator/src/cli.ts"))).toBe(true);
        const installs = runtime
          .filter((s) => s.op === "RUN")
          .map((s) => s.args)
          .join("\n");
        const user = runtime.filter((s) => s.op === "USER").at(-1)?.args;
        if (image === "operator") {
          // It compiles: clang, llvm, libbpf's and the kernel's headers, bpftool for vmlinux.h.
          // bubblewrap: the sandbox of every clang run; libseccomp2: the addon builds its filter.
          for (const pkg of ["clang", "llvm", "libbpf-dev", "linux-libc-dev", "bpftool", "bubblewrap", "libseccomp2"])
            expect(installs).toMatch(new RegExp(`\\s${pkg}(\\s|$)`));
          // Non-root, numerically (runAsNonRoot can check it), the uid the manifests use.
          expect(user).toBe("65532:65532");
          const deployment = byKindName(documents(operatorYaml()), "Deployment", "ebpf-operator");
          expect(JSON.stringify(deployment)).toContain('"runAsUser":65532');
        } else {
          // Loads only: libbpf's runtime, no compiler.
          // bubblewrap: for the standalone agent's compiles.
          for (const pkg of ["libbpf1", "libelf1", "zlib1g", "libseccomp2", "bubblewrap"]) expect(installs).toMatch(new RegExp(`\\s${pkg}(\\s|$)`));
          expect(installs).not.toMatch(/\sclang(\s|$)/);
          expect(user).toBe("0:0");
        }
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("the plain manifests on a real API server", () => {
  let objects: KubeObject[];
  let workDir: string;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), "eop-deploy-"));
    objects = documents(operatorYaml());
    const out = await cp.kubectlOk(["apply", "--server-side", "--field-manager=eop-deploy-test", "-f", join(deploy, "operator.yaml")], { timeoutMs: 120_000 });
    expect(out).toContain("deployment.apps/ebpf-operator serverside-applied");
    await cp.kubectlOk([
      "wait",
      "--for=condition=Established",
      "crd/ebpfmaps.observability.cloud",
      "crd/ebpfmapnodestatuses.observability.cloud",
      "--timeout=60s",
    ]);
  });

  afterAll(async () => {
    await cp.kubectl(["delete", "servicemonitors", "--all", "-n", SYSTEM, "--ignore-not-found"]);
    for (const ns of [TENANT, SYSTEM]) await deleteNamespace(cp, ns).catch(() => undefined);
    // CRDs stay: the other kube test files apply and use them too.
    await cp.kubectl(["delete", ...clusterScoped(objects), "--ignore-not-found"]);
    await cp.kubectl(["delete", "node", NODE, "--ignore-not-found"]);
    rmSync(workDir, { recursive: true, force: true });
  });

  /** A Node and an agent Pod scheduled on it (no kubelet runs it: the pod exists for its token's node claim). */
  async function agentPodOn(node: string, pod: string): Promise<void> {
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: node, labels: { "eop-deploy/monitored": "yes" } } }),
    });
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: pod, namespace: SYSTEM },
        spec: { nodeName: node, serviceAccountName: "ebpf-operator-agent", containers: [{ name: "agent", image: "ebpf-operator-agent:test" }] },
      }),
    });
  }

  it("creates every object of deploy/operator.yaml as it is written", async () => {
    for (const object of objects) {
      const args = [
        "get",
        `${object.kind.toLowerCase()}.${object.apiVersion.includes("/") ? object.apiVersion.split("/")[0] : ""}`.replace(/\.$/, ""),
        object.metadata.name,
        "-o",
        "json",
      ];
      const live = JSON.parse(await cp.kubectlOk(object.metadata.namespace ? [...args, "-n", object.metadata.namespace] : args)) as KubeObject;
      expect(live.metadata.name).toBe(object.metadata.name);
    }
    const ds = JSON.parse(await cp.kubectlOk(["get", "daemonset", "ebpf-operator-agent", "-n", SYSTEM, "-o", "json"])) as {
      spec: {
        template: {
          spec: { hostNetwork: boolean; containers: { securityContext: { capabilities: { add: string[]; drop: string[] }; privileged: boolean } }[] };
        };
      };
    };
    const container = ds.spec.template.spec.containers[0]!;
    expect(container.securityContext.capabilities).toEqual({ drop: ["ALL"], add: ["BPF", "PERFMON", "NET_ADMIN", "NET_RAW"] });
    expect(container.securityContext.privileged).toBe(false);
    expect(ds.spec.template.spec.hostNetwork).toBe(true);
    // Applying again changes nothing: the manifests are what the server stores.
    const again = await cp.kubectlOk(["apply", "--server-side", "--field-manager=eop-deploy-test", "-f", join(deploy, "operator.yaml")], {
      timeoutMs: 120_000,
    });
    expect(again).not.toMatch(/ created$/m);
  });

  it("accepts deploy/operator-pod-network.yaml over it (server-side dry run): the agent's SYS_ADMIN with privilege escalation allowed, the host's PID namespace", async () => {
    const out = await cp.kubectlOk(
      ["apply", "--server-side", "--dry-run=server", "--field-manager=eop-deploy-test", "-f", join(deploy, "operator-pod-network.yaml")],
      {
        timeoutMs: 120_000,
      },
    );
    expect(out).toContain("daemonset.apps/ebpf-operator-agent serverside-applied (server dry run)");
    expect(out.trim().split("\n")).toHaveLength(documents(podNetworkYaml()).length);
  });

  it("serves every data endpoint over HTTPS with authentication: TLS flags and Secret volumes, probes only on /healthz and /readyz, ServiceMonitors with a token and the CA", async () => {
    const rendered = documents(await helmOk(["template", "ebpf-operator", chart, "-n", SYSTEM, "--set", "serviceMonitor.enabled=true"]));
    const monitors = [
      ...documents(readFileSync(join(deploy, "monitoring", "servicemonitor.yaml"), "utf8")),
      ...rendered.filter((o) => o.kind === "ServiceMonitor"),
    ];
    for (const source of [objects, rendered]) {
      for (const workload of source.filter((o) => o.kind === "Deployment" || o.kind === "DaemonSet")) {
        type Probe = { httpGet: { path: string; scheme?: string } };
        const pod = (
          workload.spec as {
            template: {
              spec: {
                containers: {
                  name: string;
                  args: string[];
                  ports?: { name: string; containerPort: number; protocol?: string }[];
                  startupProbe?: Probe;
                  livenessProbe?: Probe;
                  readinessProbe?: Probe;
                  volumeMounts: { name: string }[];
                }[];
                volumes: { name: string; secret?: { secretName: string } }[];
              };
            };
          }
        ).template.spec;
        const container = pod.containers[0]!;
        const what = `${workload.kind} ${workload.metadata.name}`;
        expect(container.args, what).toEqual(
          expect.arrayContaining(["--tls-cert-file=/etc/ebpf-operator/tls/tls.crt", "--tls-private-key-file=/etc/ebpf-operator/tls/tls.key"]),
        );
        expect(pod.volumes.find((v) => v.name === "tls")?.secret?.secretName, what).toMatch(/^ebpf-operator-(agent|metrics)-tls$/);
        for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
          expect(probe?.httpGet.scheme, what).toBe("HTTPS");
          expect(["/healthz", "/readyz"], what).toContain(probe?.httpGet.path);
        }
        // The compiler container holds no credential to review a token with, so it serves no data:
        // its one port answers the kubelet's probes (plain HTTP, /healthz and /readyz), no Service
        // exposes it, and its metrics reach Prometheus through the operator's HTTPS /metrics.
        for (const other of pod.containers.slice(1)) {
          expect(other.name, what).toBe("compiler");
          expect(other.ports, what).toEqual([{ name: "compiler-health", containerPort: 8081, protocol: "TCP" }]);
          for (const probe of [other.startupProbe, other.livenessProbe, other.readinessProbe]) {
            expect(probe?.httpGet.scheme ?? "HTTP", what).toBe("HTTP");
            expect(["/healthz", "/readyz"], what).toContain(probe?.httpGet.path);
          }
        }
      }
      for (const service of source.filter((o) => o.kind === "Service")) {
        const ports = (service.spec as { ports: { name: string; port: number; targetPort: string | number }[] }).ports;
        for (const port of ports) expect([port.targetPort, port.port], `Service ${service.metadata.name}`).not.toContain("compiler-health");
        for (const port of ports) expect(port.port, `Service ${service.metadata.name}`).not.toBe(8081);
      }
    }
    expect(monitors).toHaveLength(4);
    for (const monitor of monitors) {
      for (const endpoint of (monitor.spec as { endpoints: Record<string, unknown>[] }).endpoints) {
        expect(endpoint, monitor.metadata.name).toMatchObject({
          scheme: "https",
          bearerTokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
          tlsConfig: {
            serverName: expect.stringMatching(/^ebpf-operator-(agent-)?metrics\.ebpf-operator-system\.svc$/),
            ca: { configMap: { name: "ebpf-operator-serving-ca", key: "ca.crt" } },
          },
        });
        expect(endpoint.honorLabels ?? false).toBe(false);
      }
    }
  });

  it("applies the ServiceMonitors (minimal ServiceMonitor CRD installed): only the sample's namespace (and a pod-scoped sample's pod) taken back", async () => {
    await cp.kubectlOk(["apply", "--server-side", "-f", join(deploy, "monitoring", "servicemonitor.yaml")]);
    const monitor = JSON.parse(await cp.kubectlOk(["get", "servicemonitor", "ebpf-operator-agent", "-n", SYSTEM, "-o", "json"])) as {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; honorLabels: boolean; metricRelabelings: unknown[] }[] };
    };
    expect(monitor.spec.endpoints[0]).toMatchObject({ port: "metrics", honorLabels: false });
    expect(monitor.spec.endpoints[0]!.metricRelabelings).toEqual([
      { sourceLabels: ["exported_namespace"], regex: "(.+)", targetLabel: "namespace", replacement: "$1" },
      { regex: "exported_namespace", action: "labeldrop" },
      { sourceLabels: ["exported_pod"], regex: "(.+)", targetLabel: "pod", replacement: "$1" },
      { regex: "exported_pod", action: "labeldrop" },
    ]);
    // It selects the agents' metrics Service, whose port it names.
    const service = byKindName(objects, "Service", "ebpf-operator-agent-metrics") as KubeObject & { spec: { ports: { name: string; port: number }[] } };
    expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(service.spec.ports).toContainEqual(expect.objectContaining({ name: "metrics", port: 9442 }));
    expect(await cp.kubectlOk(["get", "servicemonitor", "ebpf-operator", "-n", SYSTEM, "-o", "name"])).toContain("ebpf-operator");
  });

  it("mounts only the agent's own bpffs directory, outside /sys, and points --pin-root at it", () => {
    const ds = byKindName(objects, "DaemonSet", "ebpf-operator-agent") as KubeObject & {
      spec: {
        template: {
          spec: {
            volumes: { name: string; hostPath?: { path: string; type?: string } }[];
            containers: { args: string[]; volumeMounts: { name: string; mountPath: string; mountPropagation?: string }[] }[];
          };
        };
      };
    };
    const pod = ds.spec.template.spec;
    const hostPaths = pod.volumes.filter((v) => v.hostPath).map((v) => v.hostPath!.path);
    // The host's whole bpffs (a CNI's pins included) is not in the pod; its own directory is.
    expect(hostPaths).not.toContain("/sys/fs/bpf");
    expect(hostPaths.filter((p) => p.startsWith("/sys/fs/bpf"))).toEqual(["/sys/fs/bpf/ebpf-operator"]);
    expect(pod.volumes.find((v) => v.name === "pins")?.hostPath).toEqual({ path: "/sys/fs/bpf/ebpf-operator", type: "DirectoryOrCreate" });
    const mount = pod.containers[0]!.volumeMounts.find((m) => m.name === "pins")!;
    expect(mount).toEqual({ name: "pins", mountPath: "/run/ebpf-operator/pins", mountPropagation: "None" });
    expect(pod.containers[0]!.args).toContain(`--pin-root=${mount.mountPath}`);
  });

  it("refuses Bidirectional propagation for an unprivileged container: why the agent does not mount bpffs itself", async () => {
    const ds = structuredClone(byKindName(objects, "DaemonSet", "ebpf-operator-agent")) as KubeObject & {
      spec: { template: { spec: { containers: { volumeMounts: { name: string; mountPropagation?: string }[] }[] } } };
    };
    ds.spec.template.spec.containers[0]!.volumeMounts.find((m) => m.name === "pins")!.mountPropagation = "Bidirectional";
    const refused = await cp.kubectl(["apply", "--dry-run=server", "-f", "-"], { input: JSON.stringify(ds) });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Bidirectional mount propagation is available only to privileged containers/);
  });

  const operatorNeeds: Check[] = [
    ...(["get", "list", "watch", "patch"].map((v) => [v, "ebpfmaps.observability.cloud", TENANT]) as Check[]),
    ["list", "ebpfmaps.observability.cloud", "kube-system"],
    ["patch", "ebpfmaps.observability.cloud", TENANT, "status"],
    ...(["get", "list", "watch"].map((v) => [v, "ebpfmapnodestatuses.observability.cloud", TENANT]) as Check[]),
    ["list", "namespaces"],
    ["watch", "namespaces"],
    ["list", "nodes"],
    ["watch", "nodes"],
    ["create", "events", TENANT],
    ["patch", "events", TENANT],
    ...(["create", "get", "list", "delete"].map((v) => [v, "configmaps", SYSTEM]) as Check[]),
    ["create", "leases.coordination.k8s.io", SYSTEM],
    ["get", "leases.coordination.k8s.io/ebpf-operator-leader", SYSTEM],
    ["update", "leases.coordination.k8s.io/ebpf-operator-leader", SYSTEM],
    // Serving certificates and the authenticated /metrics.
    ["create", "secrets", SYSTEM],
    ...(["get", "update"].flatMap((v) =>
      ["ebpf-operator-ca", "ebpf-operator-agent-tls", "ebpf-operator-metrics-tls"].map((n) => [v, `secrets/${n}`, SYSTEM]),
    ) as Check[]),
    ["update", "configmaps/ebpf-operator-serving-ca", SYSTEM],
    ["create", "tokenreviews.authentication.k8s.io"],
    ["create", "subjectaccessreviews.authorization.k8s.io"],
  ];
  const operatorMustNot: Check[] = [
    ["create", "ebpfmaps.observability.cloud", TENANT],
    ["update", "ebpfmaps.observability.cloud", TENANT],
    ["delete", "ebpfmaps.observability.cloud", TENANT],
    ["update", "ebpfmaps.observability.cloud", TENANT, "status"],
    ["create", "ebpfmapnodestatuses.observability.cloud", TENANT],
    ["patch", "ebpfmapnodestatuses.observability.cloud", TENANT],
    ["delete", "ebpfmapnodestatuses.observability.cloud", TENANT],
    ["get", "secrets", SYSTEM],
    ["get", "secrets/some-other-secret", SYSTEM],
    ["update", "secrets/some-other-secret", SYSTEM],
    ["list", "secrets", SYSTEM],
    ["create", "secrets", TENANT],
    ["list", "secrets", TENANT],
    ["get", "configmaps", TENANT],
    ["create", "configmaps", "kube-system"],
    ["update", "configmaps", SYSTEM],
    ["patch", "namespaces"],
    ["get", "namespaces"],
    ["patch", "nodes"],
    ["get", "leases.coordination.k8s.io/kube-controller-manager", SYSTEM],
    ["update", "leases.coordination.k8s.io/some-other-lease", SYSTEM],
    ["create", "leases.coordination.k8s.io", "kube-system"],
    ["create", "pods", SYSTEM],
    ["delete", "events", TENANT],
  ];
  const agentNeeds: Check[] = [
    ...(["get", "list", "watch"].map((v) => [v, "ebpfmaps.observability.cloud", TENANT]) as Check[]),
    ["watch", "ebpfmaps.observability.cloud", "kube-system"],
    ...(["create", "patch", "delete", "list"].map((v) => [v, "ebpfmapnodestatuses.observability.cloud", TENANT]) as Check[]),
    ["get", "nodes"],
    ["list", "nodes"],
    ["watch", "nodes"],
    ["get", "configmaps", SYSTEM],
    ["create", "tokenreviews.authentication.k8s.io"],
    ["create", "subjectaccessreviews.authorization.k8s.io"],
    ["list", "pods", TENANT],
    ["watch", "pods", TENANT],
  ];
  const agentMustNot: Check[] = [
    ["patch", "ebpfmaps.observability.cloud", TENANT, "status"],
    ["update", "ebpfmaps.observability.cloud", TENANT, "status"],
    ["patch", "ebpfmaps.observability.cloud", TENANT],
    ["create", "ebpfmaps.observability.cloud", TENANT],
    ["delete", "ebpfmaps.observability.cloud", TENANT],
    ["get", "secrets", SYSTEM],
    ["list", "secrets", TENANT],
    ["get", "configmaps", TENANT],
    ["get", "configmaps", "kube-system"],
    ["list", "configmaps", SYSTEM],
    ["create", "configmaps", SYSTEM],
    ["delete", "configmaps", SYSTEM],
    ["patch", "nodes"],
    ["get", "namespaces"],
    ["create", "events", TENANT],
    ["get", "leases.coordination.k8s.io/ebpf-operator-leader", SYSTEM],
    ["create", "pods", SYSTEM],
  ];

  it("lets the operator's ServiceAccount make every API call the operator makes", () => expectAll(OPERATOR_SA, operatorNeeds, "yes"));
  it("denies the operator's ServiceAccount what it does not need", () => expectAll(OPERATOR_SA, operatorMustNot, "no"));
  it("lets the agent's ServiceAccount make every API call the agent makes", () => expectAll(AGENT_SA, agentNeeds, "yes"));
  it("denies the agent's ServiceAccount status writes, Secrets, ConfigMaps outside the operator namespace and more", () =>
    expectAll(AGENT_SA, agentMustNot, "no"));

  it("binds each agent's reports to its own node: another node's report, a mislabelled one and a token without a node claim are refused", async () => {
    const other = `${NODE}-other`;
    await cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: TENANT } }) });
    await agentPodOn(NODE, "eop-agent-own-node");
    const bound = await serviceAccountKubeconfig(workDir, "ebpf-operator-agent", "eop-agent-own-node");
    const unbound = await serviceAccountKubeconfig(workDir, "ebpf-operator-agent");
    const report = (node: string, label = node) =>
      JSON.stringify({
        apiVersion: API_GROUP_VERSION,
        kind: "EbpfMapNodeStatus",
        metadata: {
          name: `claim-check.${node}`,
          namespace: TENANT,
          labels: { "observability.cloud/ebpfmap": "claim-check", "observability.cloud/node": label },
        },
        spec: { ebpfMap: "claim-check", nodeName: node },
      });
    const apply = (kubeconfig: string, input: string) => cp.kubectl(["apply", "--server-side", "--field-manager=eop-agent", "-f", "-"], { kubeconfig, input });
    try {
      // The policy is enforced once the API server has loaded it: wait for the first refusal.
      const refused = await eventually("another node's report refused", async () => {
        const r = await apply(bound, report(other));
        return r.code !== 0 ? r : undefined;
      });
      expect(refused.stderr).toContain(`ValidatingAdmissionPolicy 'ebpf-operator-agent-own-node'`);
      expect(refused.stderr).toContain(`this token belongs to node ${NODE}, the report names node ${other}`);
      // Its own node's report: admitted.
      expect((await apply(bound, report(NODE))).code).toBe(0);
      // Its own node in spec, another in the label the operator and agents select by: refused.
      const mislabelled = await apply(bound, report(NODE, other));
      expect(mislabelled.code).not.toBe(0);
      expect(mislabelled.stderr).toContain(`the label observability.cloud/node names another node than ${NODE}`);
      // A token the agent's ServiceAccount could get without a pod (no node claim): refused.
      const noClaim = await apply(unbound, report(NODE));
      expect(noClaim.code).not.toBe(0);
      expect(noClaim.stderr).toContain("carries no node claim");
      // Deleting another node's report (written by an admin, whom the policy does not match): refused.
      await cp.kubectlOk(["apply", "--server-side", "--field-manager=eop-admin", "-f", "-"], { input: report(other) });
      const deleteOther = await cp.kubectl(["delete", "ebpfmapnodestatus", `claim-check.${other}`, "-n", TENANT], { kubeconfig: bound });
      expect(deleteOther.code).not.toBe(0);
      expect(deleteOther.stderr).toContain(`this token belongs to node ${NODE}, the report names node ${other}`);
      // Its own: deleted.
      await cp.kubectlOk(["delete", "ebpfmapnodestatus", `claim-check.${NODE}`, "-n", TENANT], { kubeconfig: bound });
      expect(await cp.kubectlOk(["get", "ebpfmapnodestatuses", "-n", TENANT, "-o", "name"])).toBe(
        `ebpfmapnodestatus.observability.cloud/claim-check.${other}\n`,
      );
    } finally {
      await cp.kubectl(["delete", "ebpfmapnodestatuses", "--all", "-n", TENANT, "--ignore-not-found"]);
      await cp.kubectl(["delete", "pod", "eop-agent-own-node", "-n", SYSTEM, "--ignore-not-found", "--grace-period=0", "--force"]);
    }
  });

  it("runs the operator's and the agent's own API code with the ServiceAccounts' tokens", async () => {
    const operatorConfig = await serviceAccountKubeconfig(workDir, "ebpf-operator");
    await cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: TENANT } }) });
    await cp.kubectlOk(["label", "namespace", TENANT, `${ALLOW_KERNEL_WIDE_LABEL}=true`, "--overwrite"]);
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: NODE, labels: { "eop-deploy/monitored": "yes" } } }),
    });
    // The agent's token is bound to an agent pod on NODE, as the kubelet's is: reports are
    // admitted for its own node only (deploy/manifests/24-admission-agent-reports.yaml).
    await agentPodOn(NODE, "eop-agent-pod");
    const agentConfig = await serviceAccountKubeconfig(workDir, "ebpf-operator-agent", "eop-agent-pod");
    expect(await cp.kubectlOk(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"], { kubeconfig: agentConfig })).toBe(AGENT_SA);

    // The operator, as its ServiceAccount: leader election (Lease create/get/update), informers,
    // finalizer patch, tenancy (the Namespace informer), compile + publish (ConfigMap create), status
    // patch, Events.
    let operator: RunningOperator | undefined = await startOperator({
      kubeConfig: loadKubeConfig(operatorConfig),
      namespace: SYSTEM,
      cacheDir: join(workDir, "operator-cache"),
      plugins: BUILTIN_PLUGINS,
      listen: "127.0.0.1:0",
      identity: "deploy-test",
      logger,
      unloadTimeoutMs: 20_000,
    });
    const agentKube = loadKubeConfig(agentConfig);
    const writer = new NodeStatusWriter(agentKube, NODE, logger);
    const informers: { stop(): void }[] = [];
    try {
      const manifest = tracepointManifest({ name: "rbac-check" }).replace(/\nspec:\n/, '\nspec:\n  nodeSelector:\n    eop-deploy/monitored: "yes"\n');
      await cp.kubectlOk(["apply", "-n", TENANT, "-f", "-"], { input: manifest });
      const compiled = await eventually(
        "rbac-check compiled and published by the operator running as its ServiceAccount",
        async () => {
          const r = await getEbpfMap(cp, TENANT, "rbac-check");
          return r?.status?.object && r.status.ready === "0/1" ? r : undefined;
        },
        90_000,
      );
      expect(compiled.metadata.finalizers).toContain("observability.cloud/unload");
      expect(compiled.status!.object!.namespace).toBe(SYSTEM);
      const lease = JSON.parse(await cp.kubectlOk(["get", "lease", "ebpf-operator-leader", "-n", SYSTEM, "-o", "json"])) as {
        spec: { holderIdentity: string };
      };
      expect(lease.spec.holderIdentity).toBe("deploy-test");
      await eventually("an Event from the operator", async () =>
        (
          await cp.kubectlOk(["get", "events", "-n", TENANT, "--field-selector", "involvedObject.name=rbac-check", "-o", "jsonpath={.items[*].reason}"])
        ).includes("Compiled"),
      );

      // The agent, as its ServiceAccount: informers on EbpfMaps and on its own Node (field
      // selector), the published object (ConfigMap get), its node status (server-side apply).
      const ebpfMaps = new Informer<EbpfMapObject>({
        kubeConfig: agentKube,
        apiVersion: API_GROUP_VERSION,
        kind: KIND,
        path: `/apis/${API_GROUP_VERSION}/${EBPFMAP_PLURAL}`,
        logger,
      });
      const nodes = new Informer<V1Node>({
        kubeConfig: agentKube,
        apiVersion: "v1",
        kind: "Node",
        path: "/api/v1/nodes",
        fieldSelector: `metadata.name=${NODE}`,
        logger,
      });
      informers.push(ebpfMaps, nodes);
      await Promise.all([ebpfMaps.start(), nodes.start()]);
      expect(nodes.list().map((n) => n.metadata?.name)).toEqual([NODE]);
      const seen = await eventually("the agent's informer sees rbac-check", async () => ebpfMaps.get(`${TENANT}/rbac-check`));
      const object = compiled.status!.object! as unknown as { hash: string; sha256: string };
      const bytes = await new ObjectStore(agentKube, SYSTEM).fetch(object.hash, object.sha256);
      expect(bytes.subarray(0, 4).toString("latin1")).toBe("\x7fELF");

      const status: ResourceStatus = {
        namespace: TENANT,
        name: "rbac-check",
        phase: "Running",
        conditions: [],
        observedGeneration: compiled.metadata.generation,
        objectHash: object.hash,
      };
      writer.update({ namespace: TENANT, name: "rbac-check" }, status, seen.metadata.uid);
      const ready = await eventually("1/1 ready from the agent's report", async () => {
        const r = await getEbpfMap(cp, TENANT, "rbac-check");
        return condition(r, "Ready")?.status === "True" ? r : undefined;
      });
      expect(ready.status?.ready).toBe("1/1");

      // Stale-report clean-up (list + delete), then deletion lets go of the finalizer.
      await writer.removeStale(new Set());
      await eventually(
        "the node status deleted by the agent",
        async () => (await cp.kubectlOk(["get", "ebpfmapnodestatuses", "-n", TENANT, "-o", "name"])).trim() === "",
      );
      await cp.kubectlOk(["delete", "ebpfmap", "rbac-check", "-n", TENANT, "--wait=false"]);
      await eventually(
        "rbac-check gone once the operator dropped its finalizer",
        async () => (await getEbpfMap(cp, TENANT, "rbac-check")) === undefined,
        60_000,
      );

      // Garbage collection of published objects (ConfigMap list + delete), as the operator.
      const deleted = await new ObjectStore(loadKubeConfig(operatorConfig), SYSTEM).collectGarbage(new Set(), 0);
      expect(deleted).toContain(compiled.status!.object!.configMap);

      // Graceful stop releases the Lease (get + update).
      await operator.stop();
      operator = undefined;
      const released = JSON.parse(await cp.kubectlOk(["get", "lease", "ebpf-operator-leader", "-n", SYSTEM, "-o", "json"])) as {
        spec: { holderIdentity?: string };
      };
      expect(released.spec.holderIdentity).toBeUndefined();
    } finally {
      for (const informer of informers) informer.stop();
      writer.stop();
      await operator?.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("the Helm chart with the real helm", () => {
  const DRY_RUN_NS = "eop-helm-dryrun";
  const INSTALL_NS = "eop-helm-install";
  const RELEASE = "eop-helm";
  let workDir: string;

  const nonDefaults = `
fullnameOverride: eop-custom
commonLabels: { team: platform }
operator:
  image: { repository: registry.example/ebpf/operator, tag: "9.9.9", pullPolicy: Always }
  replicas: 1
  leaderElection: false
  logLevel: debug
  plugins: ["@ebpf-operator/plugin-tracepoint", "@example/plugin-custom"]
  resources: { requests: { cpu: 250m, memory: 512Mi }, limits: { memory: 2Gi } }
  nodeSelector: { node-role.kubernetes.io/control-plane: "" }
  tolerations: [{ key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule }]
  priorityClassName: system-cluster-critical
agent:
  image: { repository: registry.example/ebpf/agent, tag: "9.9.9" }
  capabilities: [BPF, PERFMON, NET_ADMIN, NET_RAW, SYS_ADMIN, SYS_RESOURCE]
  podNetworkScope: true
  hostNetwork: false
  port: 19442
  mountBpffs: true
  seccompProfile: Unconfined
  nodeSelector: { ebpf: enabled }
  tolerations: [{ key: dedicated, operator: Equal, value: monitoring, effect: NoExecute }]
  resources: { requests: { cpu: 10m, memory: 64Mi } }
serviceMonitor:
  enabled: true
  labels: { release: prometheus }
  interval: 15s
grafanaDashboards:
  enabled: true
rbac:
  aggregateToDefaultRoles: false
tls:
  provider: cert-manager
metrics:
  prometheusServiceAccount: { name: prometheus-k8s, namespace: monitoring }
`;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), "eop-helm-"));
    writeFileSync(join(workDir, "non-defaults.yaml"), nonDefaults);
    await cp.kubectlOk(["create", "namespace", DRY_RUN_NS]);
  });

  afterAll(async () => {
    await cp.helm(["uninstall", RELEASE, "-n", INSTALL_NS, "--ignore-not-found"]);
    for (const ns of [DRY_RUN_NS, INSTALL_NS]) await deleteNamespace(cp, ns).catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
  });

  it("lints, with the default and with non-default values", async () => {
    expect(await helmOk(["lint", chart, "--strict"])).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(await helmOk(["lint", chart, "--strict", "-f", join(workDir, "non-defaults.yaml")])).toMatch(/0 chart\(s\) failed/);
  });

  it("renders the default values into objects the API server accepts (dry-run=server)", async () => {
    const rendered = await helmOk(["template", "ebpf-operator", chart, "-n", DRY_RUN_NS]);
    const objects = documents(rendered);
    expect(objects.filter((o) => o.kind === "ServiceMonitor" || o.metadata.labels?.grafana_dashboard)).toEqual([]);
    const out = await cp.kubectlOk(["apply", "--dry-run=server", "-n", DRY_RUN_NS, "-f", "-"], { input: rendered });
    expect(out).toContain("daemonset.apps/ebpf-operator-agent created (server dry run)");
    expect(out).toContain("deployment.apps/ebpf-operator created (server dry run)");
    expect(out.trim().split("\n")).toHaveLength(objects.length);
  });

  it("renders non-default values (SYS_ADMIN, no host network, bpffs init container, ServiceMonitors, dashboards) the API server accepts", async () => {
    const rendered = await helmOk(["template", "ebpf-operator", chart, "-n", DRY_RUN_NS, "-f", join(workDir, "non-defaults.yaml")]);
    const objects = documents(rendered);
    const ds = byKindName(objects, "DaemonSet", "eop-custom-agent") as KubeObject & {
      spec: {
        template: {
          spec: {
            hostNetwork: boolean;
            hostPID: boolean;
            initContainers: { name: string; securityContext: { privileged: boolean } }[];
            containers: { image: string; args: string[]; securityContext: Record<string, unknown> }[];
          };
        };
      };
    };
    const pod = ds.spec.template.spec;
    expect(pod.hostNetwork).toBe(false);
    expect(pod.initContainers[0]).toMatchObject({ name: "mount-bpffs", securityContext: { privileged: true } });
    // Only the init container sees the host's whole bpffs; the agent, its own directory.
    const agentMounts = (pod as unknown as { containers: { volumeMounts: { name: string }[] }[] }).containers[0]!.volumeMounts.map((m) => m.name);
    expect(agentMounts).toContain("pins");
    expect(agentMounts).not.toContain("bpffs");
    expect(pod.containers[0]!.image).toBe("registry.example/ebpf/agent:9.9.9");
    expect(pod.containers[0]!.args).toContain("--listen=0.0.0.0:19442");
    // The API server refuses allowPrivilegeEscalation=false together with CAP_SYS_ADMIN.
    expect(pod.containers[0]!.securityContext).toMatchObject({ allowPrivilegeEscalation: true, capabilities: { add: expect.arrayContaining(["SYS_ADMIN"]) } });
    // agent.podNetworkScope (pod-scoped xdp/socket): the host's PID namespace and SYS_PTRACE
    // added, SYS_ADMIN (already listed) not twice.
    expect(pod.hostPID).toBe(true);
    expect((pod.containers[0]!.securityContext as { capabilities: { add: string[] } }).capabilities.add).toEqual([
      "BPF",
      "PERFMON",
      "NET_ADMIN",
      "NET_RAW",
      "SYS_ADMIN",
      "SYS_RESOURCE",
      "SYS_PTRACE",
    ]);
    const deployment = byKindName(objects, "Deployment", "eop-custom") as KubeObject & {
      spec: { replicas: number; template: { spec: { containers: { args: string[] }[] } } };
    };
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.template.spec.containers[0]!.args).toEqual(
      expect.arrayContaining(["--no-leader-elect", "--plugin=@example/plugin-custom", "--log-level=debug"]),
    );
    expect(byKindName(objects, "ServiceMonitor", "eop-custom-agent")).toMatchObject({
      metadata: { labels: { release: "prometheus" } },
      spec: {
        endpoints: [
          {
            honorLabels: false,
            interval: "15s",
            scheme: "https",
            tlsConfig: { serverName: `eop-custom-agent-metrics.${DRY_RUN_NS}.svc`, ca: { secret: { name: "eop-custom-agent-tls", key: "ca.crt" } } },
          },
        ],
      },
    });
    // cert-manager makes the serving certificates: Certificates for the Secrets the pods mount,
    // from a CA of the chart's own; the operator does not manage them (nor may it touch Secrets).
    expect(byKindName(objects, "Certificate", "eop-custom-agent-tls")).toMatchObject({
      spec: {
        secretName: "eop-custom-agent-tls",
        dnsNames: [`eop-custom-agent-metrics.${DRY_RUN_NS}.svc`, `eop-custom-agent-metrics.${DRY_RUN_NS}.svc.cluster.local`],
        issuerRef: { name: "eop-custom-ca", kind: "Issuer" },
      },
    });
    expect(byKindName(objects, "Certificate", "eop-custom-ca")).toMatchObject({ spec: { isCA: true, secretName: "eop-custom-ca" } });
    expect(deployment.spec.template.spec.containers[0]!.args).not.toContain("--manage-serving-certs");
    expect(JSON.stringify(byKindName(objects, "Role", "eop-custom").rules)).not.toContain("secrets");
    expect(byKindName(objects, "ClusterRoleBinding", "eop-custom-metrics-reader")).toMatchObject({
      roleRef: { name: "eop-custom-metrics-reader" },
      subjects: [{ kind: "ServiceAccount", name: "prometheus-k8s", namespace: "monitoring" }],
    });
    expect(byKindName(objects, "ClusterRole", "eop-custom-edit").metadata.labels).not.toHaveProperty(["rbac.authorization.k8s.io/aggregate-to-edit"]);
    // One ConfigMap per dashboard file of the chart, labelled for the Grafana sidecar.
    const files = readdirSync(join(chart, "dashboards")).filter((f) => !f.startsWith("."));
    const dashboards = objects.filter((o) => o.kind === "ConfigMap" && o.metadata.labels?.grafana_dashboard === "1");
    expect(dashboards).toHaveLength(files.length);
    for (const file of files) {
      const map = dashboards.find((d) => (d as KubeObject & { data: Record<string, string> }).data[file] !== undefined) as
        (KubeObject & { data: Record<string, string> }) | undefined;
      expect(map, file).toBeDefined();
      expect(JSON.parse(map!.data[file]!)).toEqual(JSON.parse(readFileSync(join(chart, "dashboards", file), "utf8")));
    }
    const out = await cp.kubectlOk(["apply", "--dry-run=server", "-n", DRY_RUN_NS, "-f", "-"], { input: rendered });
    expect(out).toContain("servicemonitor.monitoring.coreos.com/eop-custom-agent created (server dry run)");
    expect(out.trim().split("\n")).toHaveLength(objects.length);
  });

  it("refuses to render several replicas without leader election", async () => {
    const result = await cp.helm(["template", "x", chart, "--set", "operator.leaderElection=false"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("operator.leaderElection=false needs operator.replicas=1");
  });

  it("installs (RBAC scoped to the release namespace) and uninstalls", async () => {
    const out = await helmOk(["install", RELEASE, chart, "-n", INSTALL_NS, "--create-namespace", "--set", "serviceMonitor.enabled=true"]);
    expect(out).toMatch(/STATUS: deployed/);
    expect(out).toContain(`kubectl label namespace ${INSTALL_NS} pod-security.kubernetes.io/enforce=privileged`);
    const fullname = `${RELEASE}-ebpf-operator`;
    const names = await cp.kubectlOk([
      "get",
      "deployment,daemonset,serviceaccount,role,rolebinding,service,servicemonitor",
      "-n",
      INSTALL_NS,
      "-l",
      `app.kubernetes.io/instance=${RELEASE}`,
      "-o",
      "name",
    ]);
    for (const expected of [
      `deployment.apps/${fullname}`,
      `daemonset.apps/${fullname}-agent`,
      `serviceaccount/${fullname}-agent`,
      `role.rbac.authorization.k8s.io/${fullname}-agent`,
      `servicemonitor.monitoring.coreos.com/${fullname}-agent`,
    ]) {
      expect(names).toContain(expected);
    }
    const agent = `system:serviceaccount:${INSTALL_NS}:${fullname}-agent`;
    expect(await canI(agent, "get", "configmaps", INSTALL_NS)).toBe("yes");
    expect(await canI(agent, "get", "configmaps", SYSTEM)).toBe("no");
    expect(await canI(agent, "patch", "ebpfmaps.observability.cloud", TENANT, "status")).toBe("no");
    expect(await canI(`system:serviceaccount:${INSTALL_NS}:${fullname}`, "patch", "ebpfmaps.observability.cloud", TENANT, "status")).toBe("yes");
    const releases = JSON.parse(await helmOk(["list", "-n", INSTALL_NS, "-o", "json"])) as { name: string; status: string }[];
    expect(releases.find((r) => r.name === RELEASE)?.status).toBe("deployed");

    await helmOk(["uninstall", RELEASE, "-n", INSTALL_NS]);
    expect(await cp.kubectlOk(["get", "deployment,daemonset,role,servicemonitor", "-n", INSTALL_NS, "-o", "name"])).toBe("");
    expect(await cp.kubectlOk(["get", "clusterroles,clusterrolebindings", "-l", `app.kubernetes.io/instance=${RELEASE}`, "-o", "name"])).toBe("");
    // Helm never deletes CRDs from crds/.
    expect(await cp.kubectlOk(["get", "crd", "ebpfmaps.observability.cloud", "-o", "name"])).toContain("ebpfmaps");
  });
});
