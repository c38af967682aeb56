/**
 * The compiler sandbox with the real operator on a real API server: tenant C tries to read the
 * operator's ServiceAccount token and a planted secret, and to exhaust the compiler.
 *
 * The operator runs as a real process with a real token of its ServiceAccount at the in-cluster
 * path (/var/run/secrets/kubernetes.io/serviceaccount/token, in a private mount namespace, as a
 * kubelet would project it), and uses it: in-cluster config, no kubeconfig. Compiles run with the
 * include policy's scan switched OFF (--no-source-scan), so the sandbox alone stands between
 * tenant C and those files:
 *
 *  - as deployed: the operator plus `ebpf-operator compile-server` as a second process (the
 *    compiler container) on a Unix socket; the compile server runs as root on this host, where
 *    /proc/<operator pid>/root/... would reach into the operator's mount namespace;
 *  - in-process: the operator compiles itself, the token on its own file system.
 *
 * Every route must fail or yield an object without the secret's bytes; the test greps the
 * published objects, the EbpfMaps' status, the Events and both processes' logs.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BpfCompiler } from "@ebpf-operator/core";
import { attachControlPlane, deleteNamespace } from "../helpers/kube/control-plane.js";
import { condition, eventually, getEbpfMap } from "../helpers/kube/resources.js";
import { COUNTER_CODE, tracepointManifest } from "../helpers/manifests.js";
import { sampleValue } from "../helpers/metrics.js";
import { startLoggedProcess, type LoggedProcess } from "../helpers/node-process.js";
import { secureGet } from "../helpers/secure-fetch.js";

const cp = attachControlPlane();
const repo = new URL("../../", import.meta.url).pathname;
const cli = join(repo, "packages/operator/dist/cli.js");
const TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/** The same file seen through /proc/<pid>/root (/var/run is an absolute symlink to /run, which /proc would resolve in the reader's root). */
const TOKEN_PROC_PATH = "/run/secrets/kubernetes.io/serviceaccount/token";
const SA = "eop-sandbox-operator";
const BINDING = `eop-sandbox-operator-${process.pid}`;
const SECRET = `EOP-KUBE-SANDBOX-SECRET-${randomBytes(8).toString("hex")}`;

let work: string;
let secretFile: string;
let token: string;

/** A program that counts execve (valid), plus `attack` at its end. */
const withAttack = (attack: string): string => `${COUNTER_CODE}\n${attack}\n`;
const asm = (text: string): string => `asm(${JSON.stringify(`.pushsection .data.leak,"aw"\n${text}\n.popsection\n`)});`;

/** The routes to the token (and to a planted secret file), given the operator's PID. */
function routes(operatorPid: number): [string, string][] {
  return [
    ["token-incbin-irp", withAttack(asm(`.irp d,incbin\n.\\d "${TOKEN_PATH}"\n.endr`))],
    ["token-incbin-macro-proc", withAttack(asm(`.macro m d\n.\\d "/proc/${operatorPid}/root${TOKEN_PROC_PATH}"\n.endm\nm incbin`))],
    ["token-include", `#include "${TOKEN_PATH}"\n${COUNTER_CODE}\n`],
    ["token-include-proc", `#include "/proc/${operatorPid}/root${TOKEN_PROC_PATH}"\n${COUNTER_CODE}\n`],
    ["token-line-marker", `${COUNTER_CODE}\n#line 1 "${TOKEN_PATH}"\nint leak_a(void) { return 0; }\nint leak_b(void) { return 1; }\n`],
    ["token-embed", withAttack(`const char leak[] = {\n#embed "${TOKEN_PATH}"\n};`)],
    ["secret-incbin", withAttack(asm(`.incbin "${secretFile}"`))],
    ["secret-asm-include", withAttack(asm(`.include "${secretFile}"`))],
  ];
}

/**
 * The compile server's metrics as Prometheus gets them: on the operator's HTTPS /metrics, with a
 * token allowed to read it (the operator's own here: cluster-admin). The compiler has no metrics port.
 */
async function compileMetrics(operator: LoggedProcess): Promise<string> {
  const response = await secureGet(`${operator.url}/metrics`, { token });
  expect(response.status).toBe(200);
  return response.body;
}

/** Everything a tenant or an admin sees about a namespace and the operator's objects. */
async function everythingVisible(namespace: string, system: string, logs: Record<string, unknown>[][]): Promise<string> {
  const parts = [
    await cp.kubectlOk(["get", "ebpfmaps", "-n", namespace, "-o", "yaml"]),
    await cp.kubectlOk(["get", "events", "-n", namespace, "-o", "yaml"]),
    JSON.stringify(logs),
  ];
  // The published objects, decoded: an object that embedded a file would carry its bytes.
  const configMaps = JSON.parse(await cp.kubectlOk(["get", "configmaps", "-n", system, "-o", "json"])) as { items: { binaryData?: Record<string, string> }[] };
  for (const item of configMaps.items) for (const data of Object.values(item.binaryData ?? {})) parts.push(Buffer.from(data, "base64").toString("latin1"));
  return parts.join("\n");
}

function expectNoSecret(text: string): void {
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain(token);
  // A part of the token's signature, in case only a slice of it leaked.
  expect(text).not.toContain(token.slice(-40, -8));
}

/** The operator as a pod's container would run it: the token at the in-cluster path, in its own mount namespace. */
async function startOperatorWithToken(system: string, extraArgs: string[]): Promise<LoggedProcess> {
  const secrets = mkdtempSync(join(tmpdir(), "eop-sandbox-token-"));
  const tokenFile = join(secrets, "token");
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const url = new URL(cp.server);
  const script = [
    "set -e",
    // A fresh /run (/var/run points there) for this process only, as the kubelet's projected volume.
    "mount -t tmpfs -o size=1m,mode=755 tmpfs /run",
    "mkdir -p /run/secrets/kubernetes.io/serviceaccount",
    'cp "$1" /run/secrets/kubernetes.io/serviceaccount/token',
    'cp "$2" /run/secrets/kubernetes.io/serviceaccount/ca.crt',
    'printf %s "$3" > /run/secrets/kubernetes.io/serviceaccount/namespace',
    "shift 3",
    'exec "$@"',
  ].join("\n");
  try {
    return await startLoggedProcess(
      [
        "--mount",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        script,
        "sh",
        tokenFile,
        cp.caFile,
        system,
        process.execPath,
        cli,
        "run",
        "--namespace",
        system,
        "--listen",
        "127.0.0.1:0",
        "--no-leader-elect",
        "--no-source-scan",
        ...extraArgs,
      ],
      "operator listening",
      120_000,
      {
        command: "unshare",
        // In-cluster configuration only: no KUBECONFIG, a HOME without ~/.kube.
        env: { PATH: process.env.PATH, HOME: secrets, KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port },
      },
    );
  } finally {
    rmSync(tokenFile, { force: true });
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "eop-sandbox-kube-"));
  chmodSync(work, 0o755);
  // World-readable, so only the sandbox (not file permissions) keeps clang from it.
  secretFile = join(work, "planted-secret.txt");
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o644 });
  await cp.kubectlOk(["apply", "-f", join(repo, "deploy/crds")]);
  await cp.kubectlOk([
    "wait",
    "--for",
    "condition=established",
    "crd/ebpfmaps.observability.cloud",
    "crd/ebpfmapnodestatuses.observability.cloud",
    "--timeout=60s",
  ]);
});

afterAll(async () => {
  await cp.kubectl(["delete", "clusterrolebinding", BINDING, "--ignore-not-found"]);
  rmSync(work, { recursive: true, force: true });
});

/** A system namespace with the operator's ServiceAccount (bound to cluster-admin: a token worth stealing) and its token. */
async function prepareSystem(system: string, tenants: string[]): Promise<void> {
  for (const ns of [system, ...tenants]) await cp.kubectlOk(["create", "namespace", ns]);
  for (const ns of tenants) await cp.kubectlOk(["label", "namespace", ns, "observability.cloud/allow-kernel-wide-programs=true"]);
  await cp.kubectlOk(["create", "serviceaccount", SA, "-n", system]);
  await cp.kubectl(["delete", "clusterrolebinding", BINDING, "--ignore-not-found"]);
  await cp.kubectlOk(["create", "clusterrolebinding", BINDING, "--clusterrole=cluster-admin", `--serviceaccount=${system}:${SA}`]);
  token = (await cp.kubectlOk(["create", "token", SA, "-n", system, "--duration=1h"])).trim();
  expect(token.split(".")).toHaveLength(3);
}

/**
 * Applies every route to the token and the planted secret in the attacker's namespace, waits:
 * the file reads fail (the files are not in the sandbox); #line only renames, so that one
 * compiles, without the token's text (the callers grep everything visible for it).
 */
async function expectEveryRouteContained(namespace: string, operatorPid: number): Promise<void> {
  const programs = routes(operatorPid);
  await applyAll(namespace, programs);
  await settled(
    namespace,
    programs.map(([name]) => name),
  );
  for (const [name] of programs) {
    const r = await getEbpfMap(cp, namespace, name);
    if (name === "token-line-marker") expect(r?.status?.object).toBeDefined();
    else expect(condition(r, "Compiled"), name).toMatchObject({ status: "False", reason: "CompileFailed" });
  }
}

async function applyAll(namespace: string, programs: [string, string][]): Promise<void> {
  const manifests = programs.map(([name, code]) => tracepointManifest({ name, namespace, code })).join("---\n");
  await cp.kubectlOk(["apply", "-f", "-"], { input: manifests });
}

/** Waits until the operator has settled each resource: compiled (an object) or a Compiled=False condition. */
async function settled(namespace: string, names: string[]): Promise<void> {
  for (const name of names) {
    await eventually(
      `${namespace}/${name} compiled or failed`,
      async () => {
        const r = await getEbpfMap(cp, namespace, name);
        return r?.status?.object !== undefined || condition(r, "Compiled")?.status === "False" ? r : undefined;
      },
      90_000,
    );
  }
}

describe("as deployed: the operator holds the token, a separate compile server compiles", () => {
  const SYSTEM = "eop-sbx-system";
  const ATTACKER = "eop-sbx-attacker";
  const OTHER = "eop-sbx-other";
  let compiler: LoggedProcess;
  let operator: LoggedProcess;

  beforeAll(async () => {
    await prepareSystem(SYSTEM, [ATTACKER, OTHER]);
    const socket = join(work, "compiler.sock");
    compiler = await startLoggedProcess(
      [
        cli,
        "compile-server",
        "--socket",
        socket,
        "--listen",
        "127.0.0.1:0",
        "--cache-dir",
        join(work, "compiler-cache"),
        "--concurrency",
        "2",
        "--per-namespace-concurrency",
        "1",
        // A bomb runs for a while before it hits this: long enough to watch another tenant get through.
        "--memory-limit",
        "1Gi",
        "--timeout",
        "40",
        "--no-source-scan",
      ],
      "compile server listening",
      120_000,
    );
    operator = await startOperatorWithToken(SYSTEM, ["--compiler-socket", socket]);
  });

  afterAll(async () => {
    await operator?.stop();
    await compiler?.stop();
    for (const ns of [ATTACKER, OTHER, SYSTEM]) await deleteNamespace(cp, ns).catch(() => undefined);
  });

  it("the operator really works with its token (in-cluster config), which the compile server's file system does not hold", async () => {
    await eventually("the operator's compiler ready", async () => operator.logs.some((l) => l.msg === "compiler ready"));
    expect(compiler.logs.find((l) => l.msg === "compile server listening")).toMatchObject({ sandbox: { mode: "bwrap" } });
    await applyAll(OTHER, [["plain", COUNTER_CODE]]);
    const compiled = await eventually("plain compiled and published", async () => (await getEbpfMap(cp, OTHER, "plain"))?.status?.object, 90_000);
    expect(compiled.namespace).toBe(SYSTEM);
    // The miss's two sandboxed clang runs are timed in the compile server and reach the operator's log over the socket.
    const published = operator.logs.find((l) => l.msg === "compiled and published" && l.cached === false);
    expect(published?.clangRunsMs).toMatchObject({ preprocess: expect.any(Number), compile: expect.any(Number) });
  });

  it("serves the compile metrics only through the operator's authenticated endpoint: the compiler's TCP port answers probes and nothing else", async () => {
    expect((await fetch(`${compiler.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${compiler.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${compiler.url}/metrics`)).status).toBe(404);
    expect((await secureGet(`${operator.url}/metrics`)).status).toBe(401);
    const metrics = await compileMetrics(operator);
    expect(sampleValue(metrics, "ebpf_operator_compile_server_up")).toBe(1);
    expect(sampleValue(metrics, "ebpf_operator_compile_sandbox", { mode: "bwrap" })).toBe(1);
    expect(sampleValue(metrics, "ebpf_operator_compile_requests_total", { result: "compiled" })).toBeGreaterThanOrEqual(1);
  });

  it("tenant programs reaching for the token and a planted secret by every route fail or yield objects without them", async () => {
    await expectEveryRouteContained(ATTACKER, operator.child.pid!);
    expectNoSecret(await everythingVisible(ATTACKER, SYSTEM, [operator.logs, compiler.logs]));
  });

  it("control: clang without the sandbox does read the token, through /proc/<operator pid>/root (the routes above are real)", async () => {
    const unconfined = new BpfCompiler({ cacheDir: join(work, "control-cache"), sandbox: "off", sourceScan: false });
    const [, program] = routes(operator.child.pid!).find(([name]) => name === "token-incbin-macro-proc")!;
    const result = await unconfined.compile({ source: program, label: "control/unconfined" });
    expect((await readFile(result.objectPath)).includes(token)).toBe(true);
  });

  it("a macro bomb fails within its limits while another namespace's program compiles, and neither process restarts", async () => {
    const bomb = ["#define A0 1+", ...Array.from({ length: 30 }, (_, i) => `#define A${i + 1} A${i} A${i}`), "int bomb = A28 1;", COUNTER_CODE].join("\n");
    const [operatorPid, compilerPid] = [operator.child.pid, compiler.child.pid];
    // Two bombs: with no other namespace waiting, the attacker's namespace uses both slots (the
    // second one borrowed above its share) ...
    await applyAll(ATTACKER, [
      ["bomb-1", bomb],
      ["bomb-2", bomb.replace("int bomb", "int bomb2")],
    ]);
    await eventually("both bombs compiling", async () => sampleValue(await compileMetrics(operator), "ebpf_operator_compile_running") === 2, 30_000);
    // ... and the other namespace's program gets through at once: the borrowed slot is taken back.
    await applyAll(OTHER, [["during-the-bomb", COUNTER_CODE.replace("max_entries, 1", "max_entries, 2")]]);
    await eventually("the other namespace's program compiled", async () => (await getEbpfMap(cp, OTHER, "during-the-bomb"))?.status?.object, 60_000);
    const bombStillRunning = condition(await getEbpfMap(cp, ATTACKER, "bomb-1"), "Compiled");
    expect(bombStillRunning).toBeUndefined();
    const line = compiler.logs.find((l) => l.msg === "compiled" && l.ebpfmap === `${OTHER}/during-the-bomb`);
    expect(line?.queueWaitMs).toBeLessThan(2_000);

    for (const name of ["bomb-1", "bomb-2"]) {
      const failed = await eventually(
        `${name} failed`,
        async () => {
          const c = condition(await getEbpfMap(cp, ATTACKER, name), "Compiled");
          return c?.status === "False" ? c : undefined;
        },
        110_000,
      );
      // Whichever limit it reaches first: memory, time, or the preprocessed output's size.
      expect(failed.message).toMatch(
        /clang exceeded the \d+-byte memory limit|exceeded the 40000 ms time limit|CPU-time limit|the preprocessed program exceeds \d+ bytes/,
      );
    }
    // The same processes, still serving.
    expect([operator.child.pid, compiler.child.pid]).toEqual([operatorPid, compilerPid]);
    expect([operator.child.exitCode, compiler.child.exitCode]).toEqual([null, null]);
    expect((await secureGet(`${operator.url}/healthz`)).status).toBe(200);
    const metrics = await compileMetrics(operator);
    expect(sampleValue(metrics, "ebpf_operator_compile_server_up")).toBe(1);
    const failures = ["memory_limit", "timeout", "output_too_large"].reduce(
      (sum, reason) => sum + (sampleValue(metrics, "ebpf_operator_compile_failures_total", { reason }) ?? 0),
      0,
    );
    expect(failures).toBeGreaterThanOrEqual(2);
    expect(sampleValue(metrics, "ebpf_operator_compile_requests_total", { result: "compiled" })).toBeGreaterThanOrEqual(2);
    expect(sampleValue(metrics, "ebpf_operator_compile_queue_wait_seconds_count")).toBeGreaterThanOrEqual(4);
    expect(sampleValue(metrics, "ebpf_operator_compile_sandbox", { mode: "bwrap" })).toBe(1);
    // A program compiled before is not compiled again (another name, same code): the operator
    // takes the object its namespace compiled a moment ago, or else the compiler's cache answers.
    const compiledBefore = compiler.logs.filter((l) => l.msg === "compiled" && l.cached === false).length;
    await applyAll(OTHER, [["plain-again", COUNTER_CODE]]);
    const again = await eventually("plain-again published", async () => (await getEbpfMap(cp, OTHER, "plain-again"))?.status?.object, 60_000);
    expect(again.hash).toBe((await getEbpfMap(cp, OTHER, "plain"))?.status?.object?.hash);
    expect(compiler.logs.filter((l) => l.msg === "compiled" && l.cached === false)).toHaveLength(compiledBefore);
    // A bomb is not compiled again on later reconciles of the same code.
    const attempts = compiler.logs.filter((l) => l.msg === "compile failed" && String(l.ebpfmap).startsWith(`${ATTACKER}/bomb`)).length;
    await cp.kubectlOk(["label", "ebpfmap", "bomb-1", "-n", ATTACKER, "touched=yes"]);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(compiler.logs.filter((l) => l.msg === "compile failed" && String(l.ebpfmap).startsWith(`${ATTACKER}/bomb`)).length).toBe(attempts);
  });
});

describe("in-process: the operator compiles itself, its token on the same file system", () => {
  const SYSTEM = "eop-sbx-inproc-system";
  const ATTACKER = "eop-sbx-inproc-attacker";
  let operator: LoggedProcess;

  beforeAll(async () => {
    await prepareSystem(SYSTEM, [ATTACKER]);
    operator = await startOperatorWithToken(SYSTEM, ["--cache-dir", join(work, "inproc-cache")]);
  });

  afterAll(async () => {
    await operator?.stop();
    for (const ns of [ATTACKER, SYSTEM]) await deleteNamespace(cp, ns).catch(() => undefined);
  });

  it("tenant programs reaching for the token and a planted secret by every route fail or yield objects without them", async () => {
    const ready = await eventually("the operator's compiler ready", async () => operator.logs.find((l) => l.msg === "compiler ready"));
    expect(ready).toMatchObject({ sandbox: { mode: "bwrap" } });
    await expectEveryRouteContained(ATTACKER, operator.child.pid!);
    expectNoSecret(await everythingVisible(ATTACKER, SYSTEM, [operator.logs]));
  });
});
