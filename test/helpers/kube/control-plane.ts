/**
 * A real Kubernetes control plane for tests: etcd + kube-apiserver, both run from the
 * `kube-testenv` binary that scripts/build-kube-testenv.sh builds from Go modules (no kubelet,
 * scheduler or controller-manager, like controller-runtime's envtest). See docs/kube-testenv.md.
 *
 * - `startControlPlane()` makes a CA and certificates with the openssl CLI in a temp dir, starts
 *   etcd and kube-apiserver on free 127.0.0.1 ports, waits for /readyz and the `default`
 *   namespace, and writes an admin kubeconfig (group system:masters).
 * - `attachControlPlane()` gives a test worker the same handle (minus `stop`) from the env vars
 *   the vitest global setup (global-setup.ts) exports.
 * - `kubectl()` runs the real kubectl built beside kube-testenv.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Where the build script puts the binaries, unless EOP_TEST_KUBE_BIN says otherwise. */
export const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
export const defaultBinDir = join(repoRoot, ".cache", "kube-testenv", "bin");

/** Env vars through which global-setup.ts hands the control plane to test workers. */
export const ENV_KUBECONFIG = "EOP_TEST_KUBECONFIG";
export const ENV_BIN = "EOP_TEST_KUBE_BIN";
export const ENV_DIR = "EOP_TEST_KUBE_DIR";

export interface ControlPlaneOptions {
  /** Directory holding kube-testenv and kubectl. Default: $EOP_TEST_KUBE_BIN or .cache/kube-testenv/bin. */
  binDir?: string;
  /** How long to wait for etcd, /readyz and the default namespace. Default 120 s. */
  startTimeoutMs?: number;
  /** More kube-apiserver flags, appended after the defaults (a later flag wins). */
  extraApiServerFlags?: string[];
  /** Keep the temp dir (certs, logs, etcd data) after stop(), for debugging. Default: $EOP_TEST_KUBE_KEEP === "1". */
  keepDir?: boolean;
}

export interface KubectlOptions {
  /** Default: the handle's admin kubeconfig, or $EOP_TEST_KUBECONFIG. */
  kubeconfig?: string;
  /** Written to kubectl's stdin (e.g. a manifest for `apply -f -`). */
  input?: string;
  /** Default 60 s; kubectl is killed after that. */
  timeoutMs?: number;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ApiResponse {
  status: number;
  body: string;
}

/** Everything a test needs to talk to the control plane. */
export interface ControlPlaneHandle {
  /** The temp dir: pki/, etcd/, logs, kubeconfigs. */
  readonly dir: string;
  readonly binDir: string;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** Admin kubeconfig (CN=admin, O=system:masters). */
  readonly kubeconfig: string;
  readonly caFile: string;
  /** A client certificate for `name` in `groups`, and a kubeconfig that uses it; returns its path. */
  userKubeconfig(name: string, groups?: string[]): Promise<string>;
  /** Runs the real kubectl (see kubectl()); the admin kubeconfig unless options.kubeconfig. */
  kubectl(args: string[], options?: KubectlOptions): Promise<KubectlResult>;
  /** Like kubectl(), but throws with kubectl's stderr when it exits non-zero; returns stdout. */
  kubectlOk(args: string[], options?: KubectlOptions): Promise<string>;
  /** Runs the real helm (see helm()); the admin kubeconfig unless options.kubeconfig. */
  helm(args: string[], options?: KubectlOptions): Promise<KubectlResult>;
  /** A raw HTTPS request to the API server as admin, e.g. request("GET", "/version"). */
  request(method: string, path: string, body?: string): Promise<ApiResponse>;
}

export interface ControlPlane extends ControlPlaneHandle {
  readonly etcdUrl: string;
  readonly apiServerLog: string;
  readonly etcdLog: string;
  /** Kills both processes and removes the temp dir. Safe to call more than once. */
  stop(): Promise<void>;
  /**
   * Stops kube-apiserver (etcd keeps the data), waits `downMs`, starts it again with the same
   * flags and port, and waits until it is ready: an API-server restart as clients see it.
   */
  restartApiServer(downMs?: number): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Processes and small utilities

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program (never through a shell), optionally feeding stdin; never throws on exit code. */
export function run(file: string, args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8") + (signal ? `\n(killed by ${signal})` : ""),
      });
    });
    child.stdin.on("error", () => {}); // kubectl may exit before reading all of its input
    child.stdin.end(options.input ?? "");
  });
}

export async function runOk(file: string, args: readonly string[]): Promise<string> {
  const result = await run(file, args);
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(" ")} exited ${result.code}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** `count` distinct free TCP ports on 127.0.0.1 (all held open at once, then released). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

// ---------------------------------------------------------------------------------------------
// PKI with the openssl CLI (EC P-256 keys: fast to make, accepted by Go's TLS and by the
// API server for service-account tokens)

const OPENSSL_CNF = `[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** Names go into an openssl -subj string: keep them to characters that need no escaping there. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9:._@-]*$/;

export class Pki {
  constructor(readonly dir: string) {}

  get cnf() {
    return join(this.dir, "openssl.cnf");
  }
  get caCrt() {
    return join(this.dir, "ca.crt");
  }
  get caKey() {
    return join(this.dir, "ca.key");
  }

  private newKey(path: string): Promise<string> {
    return runOk("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path]);
  }

  async createCa(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(this.cnf, OPENSSL_CNF);
    await this.newKey(this.caKey);
    await runOk("openssl", [
      "req",
      "-x509",
      "-new",
      "-config",
      this.cnf,
      "-extensions",
      "ca",
      "-key",
      this.caKey,
      "-subj",
      "/CN=ebpf-operator-test-ca",
      "-days",
      "7",
      "-out",
      this.caCrt,
    ]);
  }

  /** A key and a certificate signed by the CA; `profile` is "server" or "client". Returns [crt, key]. */
  async issue(base: string, profile: "server" | "client", cn: string, orgs: readonly string[] = []): Promise<[string, string]> {
    for (const name of [cn, ...orgs]) {
      if (!SAFE_NAME.test(name)) throw new Error(`unsupported certificate name ${JSON.stringify(name)}`);
    }
    return this.sign(base, `/CN=${cn}${orgs.map((o) => `/O=${o}`).join("")}`, this.cnf, profile);
  }

  /**
   * A serving certificate for other names than the default profile's (e.g. a kubelet's, or an
   * API server reached on another address). Returns [crt, key].
   */
  async issueServer(base: string, cn: string, sans: readonly string[]): Promise<[string, string]> {
    if (!SAFE_NAME.test(cn)) throw new Error(`unsupported certificate name ${JSON.stringify(cn)}`);
    for (const san of sans) if (!/^(IP|DNS):[A-Za-z0-9.:-]+$/.test(san)) throw new Error(`unsupported subjectAltName ${JSON.stringify(san)}`);
    const ext = join(this.dir, `${base}.ext`);
    const profile = OPENSSL_CNF.split("[server]\n")[1]!
      .split("\n[")[0]!
      .replace(/^subjectAltName = .*$/m, `subjectAltName = ${sans.join(",")}`);
    await writeFile(ext, `[ext]\n${profile}`);
    return this.sign(base, `/CN=${cn}`, ext, "ext");
  }

  /** A new key, and its certificate signed by the CA with `extensions` from `extfile`. Returns [crt, key]. */
  private async sign(base: string, subject: string, extfile: string, extensions: string): Promise<[string, string]> {
    const key = join(this.dir, `${base}.key`);
    const csr = join(this.dir, `${base}.csr`);
    const crt = join(this.dir, `${base}.crt`);
    await this.newKey(key);
    await runOk("openssl", ["req", "-new", "-config", this.cnf, "-key", key, "-subj", subject, "-out", csr]);
    const serial = `0x${randomBytes(12).toString("hex")}`;
    await runOk("openssl", [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      this.caCrt,
      "-CAkey",
      this.caKey,
      "-set_serial",
      serial,
      "-days",
      "7",
      "-extfile",
      extfile,
      "-extensions",
      extensions,
      "-out",
      crt,
    ]);
    await rm(csr, { force: true });
    return [crt, key];
  }

  /** One EC key pair signs (private half) and verifies (public half) service-account tokens. Returns [pub, key]. */
  async serviceAccountKey(): Promise<[string, string]> {
    const key = join(this.dir, "sa.key");
    const pub = join(this.dir, "sa.pub");
    await this.newKey(key);
    await runOk("openssl", ["pkey", "-in", key, "-pubout", "-out", pub]);
    return [pub, key];
  }
}

export async function writeKubeconfig(path: string, server: string, caFile: string, user: string, crt: string, key: string): Promise<void> {
  const b64 = async (file: string) => (await readFile(file)).toString("base64");
  // Data embedded, so the file stands alone (copy it, point a local agent at it).
  const text = `apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster:
    server: ${server}
    certificate-authority-data: ${await b64(caFile)}
users:
- name: ${user}
  user:
    client-certificate-data: ${await b64(crt)}
    client-key-data: ${await b64(key)}
contexts:
- name: ${user}@testenv
  context:
    cluster: testenv
    user: ${user}
    namespace: default
current-context: ${user}@testenv
`;
  await writeFile(path, text, { mode: 0o600 });
}

// ---------------------------------------------------------------------------------------------
// kubectl

/** The bin dir: $EOP_TEST_KUBE_BIN, else .cache/kube-testenv/bin. */
export function kubeBinDir(): string {
  return process.env[ENV_BIN] || defaultBinDir;
}

/**
 * Runs the real kubectl built by scripts/build-kube-testenv.sh, as a user would, with
 * `--kubeconfig` (default $EOP_TEST_KUBECONFIG). ~/.kube/kuberc is ignored and the discovery
 * cache goes into the control plane's dir, so the machine's own kubectl set-up never leaks in.
 * Never throws on a non-zero exit: check `code`.
 */
export async function kubectl(args: string[], options: KubectlOptions & { binDir?: string; cacheDir?: string } = {}): Promise<KubectlResult> {
  const kubeconfig = options.kubeconfig ?? process.env[ENV_KUBECONFIG];
  if (!kubeconfig) throw new Error(`kubectl(): no kubeconfig given and $${ENV_KUBECONFIG} is not set (is the kube global setup on?)`);
  const bin = join(options.binDir ?? kubeBinDir(), "kubectl");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/build-kube-testenv.sh`);
  const cacheDir = options.cacheDir ?? (process.env[ENV_DIR] ? join(process.env[ENV_DIR], "kube-cache") : undefined);
  const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig, KUBERC: "off" };
  if (cacheDir) env.KUBECACHEDIR = cacheDir;
  const input = options.input;
  return run(bin, ["--kubeconfig", kubeconfig, ...args], { env, timeoutMs: options.timeoutMs ?? 60_000, ...(input === undefined ? {} : { input }) });
}

/**
 * Runs the real helm built by scripts/build-kube-testenv.sh (helm v4, test/kube-testenv/helm/)
 * with `--kubeconfig` (default $EOP_TEST_KUBECONFIG). Helm's cache/config/data homes go into the
 * control plane's dir (or a fresh temp dir), never the user's. Never throws on a non-zero exit.
 */
export async function helm(args: string[], options: KubectlOptions & { binDir?: string; homeDir?: string } = {}): Promise<KubectlResult> {
  const kubeconfig = options.kubeconfig ?? process.env[ENV_KUBECONFIG];
  if (!kubeconfig) throw new Error(`helm(): no kubeconfig given and $${ENV_KUBECONFIG} is not set (is the kube global setup on?)`);
  const bin = join(options.binDir ?? kubeBinDir(), "helm");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/build-kube-testenv.sh (without --no-helm)`);
  const home = options.homeDir ?? (process.env[ENV_DIR] ? join(process.env[ENV_DIR], "helm") : await mkdtemp(join(tmpdir(), "eop-helm-")));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUBECONFIG: kubeconfig,
    HELM_CACHE_HOME: join(home, "cache"),
    HELM_CONFIG_HOME: join(home, "config"),
    HELM_DATA_HOME: join(home, "data"),
  };
  const input = options.input;
  return run(bin, ["--kubeconfig", kubeconfig, ...args], { env, timeoutMs: options.timeoutMs ?? 120_000, ...(input === undefined ? {} : { input }) });
}

function ensureOk(args: string[], result: KubectlResult): string {
  if (result.code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

// ---------------------------------------------------------------------------------------------
// The handle

export function makeHandle(dir: string, binDir: string, server: string): ControlPlaneHandle {
  const pki = new Pki(join(dir, "pki"));
  const kubeconfig = join(dir, "admin.kubeconfig");
  const adminCrt = join(pki.dir, "admin.crt");
  const adminKey = join(pki.dir, "admin.key");
  const cacheDir = join(dir, "kube-cache");
  const kc = (args: string[], options: KubectlOptions = {}) => kubectl(args, { kubeconfig, ...options, binDir, cacheDir });
  return {
    dir,
    binDir,
    server,
    kubeconfig,
    caFile: pki.caCrt,
    async userKubeconfig(name: string, groups: string[] = []): Promise<string> {
      const base = `user-${name.replace(/[^A-Za-z0-9._-]/g, "_")}-${randomBytes(3).toString("hex")}`;
      const [crt, key] = await pki.issue(base, "client", name, groups);
      const path = join(dir, `${base}.kubeconfig`);
      await writeKubeconfig(path, server, pki.caCrt, name, crt, key);
      return path;
    },
    kubectl: kc,
    helm: (args: string[], options: KubectlOptions = {}) => helm(args, { kubeconfig, ...options, binDir, homeDir: join(dir, "helm") }),
    async kubectlOk(args: string[], options: KubectlOptions = {}): Promise<string> {
      return ensureOk(args, await kc(args, options));
    },
    request(method: string, path: string, body?: string): Promise<ApiResponse> {
      return new Promise((resolve, reject) => {
        const req = httpsRequest(
          new URL(path, server),
          {
            method,
            ca: readFileSync(pki.caCrt),
            cert: readFileSync(adminCrt),
            key: readFileSync(adminKey),
            headers: body === undefined ? {} : { "content-type": "application/json" },
            timeout: 10_000,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
            res.on("error", reject);
          },
        );
        req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
        req.on("error", reject);
        req.end(body);
      });
    },
  };
}

/** The control plane started by the vitest global setup, from $EOP_TEST_KUBE_DIR etc. */
export function attachControlPlane(env: NodeJS.ProcessEnv = process.env): ControlPlaneHandle {
  const dir = env[ENV_DIR];
  if (!dir) throw new Error(`$${ENV_DIR} is not set: run this test in the vitest "kube" project (globalSetup test/helpers/kube/global-setup.ts)`);
  const { server } = JSON.parse(readFileSync(join(dir, "control-plane.json"), "utf8")) as { server: string };
  return makeHandle(dir, env[ENV_BIN] || defaultBinDir, server);
}

// ---------------------------------------------------------------------------------------------
// Start and stop

/** Running control planes, killed synchronously if the process exits without stop(). */
const running = new Set<{ children: ChildProcess[]; dir: string; keep: boolean }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const cp of running) {
      for (const child of cp.children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      if (!cp.keep) rmSync(cp.dir, { recursive: true, force: true });
    }
  });
}

export function startProcess(bin: string, args: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, "a");
  try {
    // KUBE_TESTENV_PDEATHSIG: the Go side asks the kernel to SIGTERM it if this process dies.
    return spawn(bin, args, { stdio: ["ignore", fd, fd], env: { ...process.env, KUBE_TESTENV_PDEATHSIG: "1" } });
  } finally {
    closeSync(fd);
  }
}

export async function stopProcess(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Polls `check` until it returns true; fails early when a process exits. */
export async function waitFor(what: string, deadline: number, children: ChildProcess[], check: () => Promise<boolean>): Promise<void> {
  for (;;) {
    const dead = children.find((c) => c.exitCode !== null || c.signalCode !== null);
    if (dead) throw new Error(`${what}: ${dead.spawnargs.slice(0, 2).join(" ")} exited (${dead.exitCode ?? dead.signalCode})`);
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: timed out`);
    await sleep(250);
  }
}

/** Removes temp dirs left by runs that were SIGKILLed (their owner.pid is no longer alive). */
async function sweepStaleDirs(): Promise<void> {
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const pid = Number((await readFile(join(dir, "owner.pid"), "utf8").catch(() => "")).trim());
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ESRCH") await rm(dir, { recursive: true, force: true });
    }
  }
}

const DIR_PREFIX = "eop-kube-";

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binDir = options.binDir ?? kubeBinDir();
  const testenv = join(binDir, "kube-testenv");
  if (!existsSync(testenv)) throw new Error(`${testenv} is missing: run scripts/build-kube-testenv.sh`);
  const keep = options.keepDir ?? process.env.EOP_TEST_KUBE_KEEP === "1";
  const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);

  await sweepStaleDirs();
  const dir = await mkdtemp(join(tmpdir(), DIR_PREFIX));
  await writeFile(join(dir, "owner.pid"), `${process.pid}\n`);
  const state = { children: [] as ChildProcess[], dir, keep };
  running.add(state);
  installExitHook();
  const etcdLog = join(dir, "etcd.log");
  const apiServerLog = join(dir, "kube-apiserver.log");
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // API server first, so it does not log a storm of etcd errors on the way down.
    for (const child of [...state.children].reverse()) await stopProcess(child);
    running.delete(state);
    if (!keep) await rm(dir, { recursive: true, force: true });
  };

  try {
    // PKI
    const pki = new Pki(join(dir, "pki"));
    await pki.createCa();
    const [servingCrt, servingKey] = await pki.issue("serving", "server", "kube-apiserver");
    const [adminCrt, adminKey] = await pki.issue("admin", "client", "admin", ["system:masters"]);
    const [saPub, saKey] = await pki.serviceAccountKey();

    const [etcdClientPort, etcdPeerPort, securePort] = (await freePorts(3)) as [number, number, number];
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const server = `https://127.0.0.1:${securePort}`;

    // etcd
    const etcdDir = join(dir, "etcd");
    await mkdir(etcdDir, { mode: 0o700 });
    state.children.push(
      startProcess(
        testenv,
        ["etcd", "--data-dir", etcdDir, "--listen-client-url", etcdUrl, "--listen-peer-url", `http://127.0.0.1:${etcdPeerPort}`, "--unsafe-no-fsync"],
        etcdLog,
      ),
    );
    try {
      await waitFor("etcd", deadline, state.children, async () => (await fetch(`${etcdUrl}/health`)).ok);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- ${etcdLog} (tail) ---\n${tail(etcdLog)}`);
    }

    // kube-apiserver
    const flags = [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${securePort}`,
      "--advertise-address=127.0.0.1", // no default route here: do not guess an interface
      "--endpoint-reconciler-type=none", // no kubelet/nodes: don't manage the kubernetes endpoints
      `--cert-dir=${join(dir, "apiserver-certs")}`,
      `--tls-cert-file=${servingCrt}`,
      `--tls-private-key-file=${servingKey}`,
      `--client-ca-file=${pki.caCrt}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      "--service-cluster-ip-range=10.0.0.0/24",
      "--authorization-mode=RBAC",
      "--allow-privileged=true",
      "--disable-admission-plugins=ServiceAccount", // no token controller to make SA tokens
      ...(options.extraApiServerFlags ?? []),
    ];
    state.children.push(startProcess(testenv, ["kube-apiserver", ...flags], apiServerLog));

    await writeKubeconfig(join(dir, "admin.kubeconfig"), server, pki.caCrt, "admin", adminCrt, adminKey);
    await writeFile(join(dir, "control-plane.json"), JSON.stringify({ server, etcdUrl }, null, 2));
    const handle = makeHandle(dir, binDir, server);
    try {
      await waitFor("kube-apiserver /readyz", deadline, state.children, async () => {
        const r = await handle.request("GET", "/readyz");
        return r.status === 200 && r.body.trim() === "ok";
      });
      await waitFor("namespace default", deadline, state.children, async () => (await handle.request("GET", "/api/v1/namespaces/default")).status === 200);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- ${apiServerLog} (tail) ---\n${tail(apiServerLog)}\n--- ${etcdLog} (tail) ---\n${tail(etcdLog, 10)}`);
    }

    const restartApiServer = async (downMs = 1_000): Promise<void> => {
      const index = state.children.length - 1; // the API server is started last
      await stopProcess(state.children[index]!);
      await sleep(downMs);
      state.children[index] = startProcess(testenv, ["kube-apiserver", ...flags], apiServerLog);
      const restartDeadline = Date.now() + (options.startTimeoutMs ?? 120_000);
      await waitFor("kube-apiserver /readyz after restart", restartDeadline, state.children, async () => {
        const r = await handle.request("GET", "/readyz");
        return r.status === 200 && r.body.trim() === "ok";
      });
    };
    return { ...handle, etcdUrl, apiServerLog, etcdLog, stop, restartApiServer };
  } catch (error) {
    await stop();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Namespaces

/**
 * Deletes a namespace and what is in it. There is no kube-controller-manager, so nothing else
 * would: this deletes every namespaced kind in it (as the namespace controller does), deletes
 * the namespace, then drops its `kubernetes` finalizer through the finalize subresource.
 * Objects that carry finalizers of their own (an operator's) are deleted without waiting.
 */
export async function deleteNamespace(cp: ControlPlaneHandle, name: string): Promise<void> {
  const get = await cp.kubectl(["get", "namespace", name, "-o", "json", "--ignore-not-found"]);
  if (get.code === 0 && get.stdout.trim() === "") return;
  const kinds = (await cp.kubectlOk(["api-resources", "--namespaced=true", "--verbs=list,delete", "-o", "name"]))
    .split("\n")
    .filter((k) => k !== "" && k !== "events" && k !== "events.events.k8s.io");
  if (kinds.length > 0) {
    await cp.kubectl(["delete", kinds.join(","), "--all", "-n", name, "--wait=false", "--ignore-not-found"]);
  }
  await cp.kubectlOk(["delete", "namespace", name, "--wait=false", "--ignore-not-found"]);
  const current = await cp.kubectl(["get", "namespace", name, "-o", "json"]);
  if (current.code !== 0) return; // already gone
  const ns = JSON.parse(current.stdout) as { spec?: { finalizers?: string[] } };
  ns.spec = { ...ns.spec, finalizers: [] };
  await cp.kubectlOk(["replace", "--raw", `/api/v1/namespaces/${name}/finalize`, "-f", "-"], { input: JSON.stringify(ns) });
  await cp.kubectlOk(["wait", "--for=delete", `namespace/${name}`, "--timeout=30s"]);
}
