/**
 * A one-node Kubernetes cluster on this machine, the way kind gives one (docs/kube-node.md):
 * etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and
 * containerd 2.x (runc, CNI bridge), all built from Go modules, all inside a "node": new PID,
 * mount, network, UTS and IPC namespaces made by `kube-node sandbox`.
 *
 * What stays off the host: the node's network namespace holds the CNI bridge, the pods' veths,
 * the node address and every port (nothing binds on the host but the forwarded API server and
 * Prometheus ports on 127.0.0.1); its mount namespace holds /run, /var/lib (kubelet and
 * containerd state bound from the run's directory), /var/log, pod volumes, a bpffs of its own
 * and read-only copies of the kernel tunables the kubelet wants; pods' cgroups live in one
 * subtree per cgroup hierarchy named after the run (the kubelet's cgroupRoot). Nothing runs after
 * the harness: the sandbox dies with its parent (PDEATHSIG), and with it the node's PID 1, whose
 * death kills every process of the node (containerd, shims, containers). `stop()` then removes
 * the cgroup subtrees and the run's directory; a run that was SIGKILLed is cleaned by the next.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { ControlPlaneHandle } from "../kube/control-plane.js";
import { Pki, defaultBinDir, makeHandle, repoRoot, run, sleep, tail, waitFor, writeKubeconfig } from "../kube/control-plane.js";

export const NODE_NAME = "eop-node";
/** The node's address, on the loopback interface of the node's own network namespace. */
export const NODE_IP = "10.217.0.2";
export const POD_SUBNET = "10.244.0.0/24";
export const SERVICE_RANGE = "10.96.0.0/24";
const DIR_PREFIX = "eop-node-";
/** What the kubelet would set (kube-node sandbox masks them inside the node). */
export const KUBELET_TUNABLES = [
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
];
const CGROUP_ROOT = "/sys/fs/cgroup";

export interface ImageArchive {
  ref: string;
  archive: string;
  size: number;
  uncompressed: number;
  manifest: string;
  config: string;
}
export type ImageArchives = Record<"operator" | "agent" | "pause", ImageArchive>;

export interface NodeCluster extends ControlPlaneHandle {
  readonly nodeName: string;
  readonly nodeIp: string;
  /** The node's PID 1, as the host sees it: /proc/<pid>/root is the node's file system view. */
  readonly initPid: number;
  readonly images: ImageArchives;
  /** 127.0.0.1:PORT on the host for each forwarded address inside the node. */
  readonly forwards: Record<string, string>;
  /** A path as processes inside the node see it (e.g. the node's bpffs), from the host. */
  nodePath(path: string): string;
  /** Runs a program inside the node (its namespaces), waits, never throws on exit code. */
  exec(args: string[], options?: { input?: string; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Starts a long-running program inside the node, logging to <dir>/<name>.log. */
  spawnInside(name: string, args: string[]): ChildProcess;
  log(name: string): string;
  stop(): Promise<void>;
}

export interface NodeClusterOptions {
  /** Keep the run's directory (logs, certs) after stop(). Default: $EOP_TEST_NODE_KEEP === "1". */
  keepDir?: boolean;
  startTimeoutMs?: number;
  /** Progress messages (default: stderr). */
  progress?: (message: string) => void;
  /** Extra `--forward NAME=HOST:PORT` of the sandbox (apiserver is always forwarded). */
  forwards?: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Builds (cached)

function runScript(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"], env, cwd: repoRoot });
    const out: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(Buffer.concat(out).toString("utf8")) : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}`))));
  });
}

/** kube-testenv, kubectl, helm (scripts/build-kube-testenv.sh) and the node's binaries. */
export async function buildNodeBinaries(): Promise<{ kubeBin: string; nodeBin: string }> {
  const kubeBin = process.env.EOP_TEST_KUBE_BIN || defaultBinDir;
  if (!process.env.EOP_TEST_KUBE_BIN) await runScript("bash", [join(repoRoot, "scripts/build-kube-testenv.sh")]);
  const nodeBin = (await runScript("bash", [join(repoRoot, "scripts/build-kube-node.sh")])).trim().split("\n").at(-1)!;
  return { kubeBin, nodeBin };
}

/** `npm run images` (deploy/images/build.mjs), plus the pause image; cached by content. */
export async function buildImages(pauseBinary: string): Promise<ImageArchives> {
  const out = await runScript(process.execPath, [join(repoRoot, "deploy/images/build.mjs"), "--json", "--pause", pauseBinary]);
  return JSON.parse(out) as ImageArchives;
}

// ---------------------------------------------------------------------------------------------
// cgroups: one subtree per hierarchy, named after the run

/** Every cgroup hierarchy mounted under /sys/fs/cgroup (v1 controllers, named, and v2). */
function cgroupHierarchies(): string[] {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n");
  const out: string[] = [];
  for (const line of mounts) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const mountPoint = left.split(" ")[4]!;
    const fstype = right.split(" ")[0];
    if ((fstype === "cgroup" || fstype === "cgroup2") && mountPoint.startsWith(`${CGROUP_ROOT}/`)) out.push(mountPoint);
  }
  return [...new Set(out)];
}

function createCgroups(name: string): void {
  for (const hierarchy of cgroupHierarchies()) {
    // Directly under the hierarchy's root, not recursive: one level, the run's own.
    const dir = join(hierarchy, name);
    if (!existsSync(dir)) mkdirSync(dir);
    // A new cpuset cgroup has no CPUs or memory nodes until given its parent's.
    for (const file of ["cpuset.cpus", "cpuset.mems"]) {
      const parent = join(hierarchy, file);
      if (existsSync(parent) && readFileSync(join(dir, file), "utf8").trim() === "") writeFileSync(join(dir, file), readFileSync(parent));
    }
  }
}

/** Removes a run's cgroup subtrees, deepest first; retries while killed processes drain. */
export async function removeCgroups(name: string, timeoutMs = 20_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left: string[] = [];
    for (const hierarchy of cgroupHierarchies()) {
      const top = join(hierarchy, name);
      if (!existsSync(top)) continue;
      const dirs = listDirs(top).sort((a, b) => b.length - a.length);
      for (const dir of dirs) {
        try {
          rmdirSync(dir);
        } catch {
          left.push(dir);
        }
      }
    }
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(250);
  }
}

function listDirs(top: string): string[] {
  const out = [top];
  for (const entry of readdirSync(top, { withFileTypes: true })) if (entry.isDirectory()) out.push(...listDirs(join(top, entry.name)));
  return out;
}

/** Runs left by a SIGKILLed harness: their owner.pid is dead. Removes cgroups and directory. */
async function sweepStaleRuns(progress: (m: string) => void): Promise<void> {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const pid = Number((await readFile(join(dir, "owner.pid"), "utf8").catch(() => "")).trim());
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      process.kill(pid, 0);
      continue; // alive: another run
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") continue;
    }
    progress(`removing the stale run ${dir}`);
    await removeCgroups(name, 5_000);
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Configuration files

const yaml = (value: unknown): string => JSON.stringify(value, null, 2); // JSON is YAML

function containerdConfig(dir: string, sandboxImage: string): string {
  return `version = 3
root = "/var/lib/containerd"
state = "/run/containerd"

[grpc]
  address = "${dir}/containerd.sock"

[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "${sandboxImage}"

  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    disable_apparmor = true
    # Pod sandboxes get oom_score_adj -998 and Guaranteed containers -997; lowering it needs
    # CAP_SYS_RESOURCE, which root on this machine does not have (runc init then fails with
    # "can't get final child's PID from pipe"). Never below containerd's own (0) instead.
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "/usr/sbin/runc"
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["/usr/lib/cni"]
      conf_dir = "${dir}/cni/net.d"

  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
`;
}

function cniConfig(dir: string): string {
  return yaml({
    cniVersion: "1.0.0",
    name: "eop-node",
    plugins: [
      {
        type: "bridge",
        bridge: "cni0",
        isGateway: true,
        // Pods talk to the node and to each other; nothing leaves the node's namespace.
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: "host-local", ranges: [[{ subnet: POD_SUBNET }]], routes: [{ dst: "0.0.0.0/0" }], dataDir: join(dir, "cni", "ipam") },
      },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
  });
}

function kubeletConfig(dir: string, pki: Pki, cgroupRoot: string): string {
  return yaml({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    // This machine mounts cgroup v1 controllers (v2 only at /sys/fs/cgroup/unified, with none).
    failCgroupV1: false,
    cgroupDriver: "cgroupfs",
    // Pods' cgroups in the run's own subtree of every hierarchy.
    cgroupRoot,
    cgroupsPerQOS: true,
    // The node's /proc/sys shows what the kubelet wants (sandbox.go): check, never write.
    protectKernelDefaults: true,
    failSwapOn: false,
    address: NODE_IP,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    healthzPort: 10248,
    tlsCertFile: join(pki.dir, "kubelet-serving.crt"),
    tlsPrivateKeyFile: join(pki.dir, "kubelet-serving.key"),
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: pki.caCrt } },
    authorization: { mode: "Webhook" },
    containerRuntimeEndpoint: `unix://${dir}/containerd.sock`,
    imageServiceEndpoint: `unix://${dir}/containerd.sock`,
    clusterDomain: "cluster.local",
    resolvConf: "",
    // The images cannot be pulled again: never garbage-collect them.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { "memory.available": "100Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%", "imagefs.available": "1%" },
    nodeStatusUpdateFrequency: "5s",
    nodeStatusReportFrequency: "10s",
    syncFrequency: "10s",
    serializeImagePulls: false,
    maxPods: 50,
    rotateCertificates: false,
    serverTLSBootstrap: false,
    shutdownGracePeriod: "0s",
  });
}

function kubeProxyConfig(kubeconfig: string): string {
  return yaml({
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    mode: "nftables",
    clientConnection: { kubeconfig },
    hostnameOverride: NODE_NAME,
    clusterCIDR: POD_SUBNET,
    bindAddress: "0.0.0.0",
    healthzBindAddress: "127.0.0.1:10256",
    metricsBindAddress: "127.0.0.1:10249",
    // The conntrack table size is the machine's (read-only in a network namespace): leave it.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
  });
}

// ---------------------------------------------------------------------------------------------
// Start and stop

const running = new Set<{ sandbox: ChildProcess; cgroup: string; dir: string; keep: boolean }>();
let exitHook = false;

export async function startNodeCluster(options: NodeClusterOptions = {}): Promise<NodeCluster> {
  const progress = options.progress ?? ((m: string) => process.stderr.write(`[node] ${m}\n`));
  const keep = options.keepDir ?? process.env.EOP_TEST_NODE_KEEP === "1";
  if (process.getuid?.() !== 0) throw new Error("the node cluster needs root (namespaces, cgroups, mounts)");
  const missing = ["/usr/sbin/runc", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/sbin/nft", "/usr/bin/nsenter", "/usr/bin/mmdebstrap"].filter(
    (f) => !existsSync(f),
  );
  if (missing.length > 0)
    throw new Error(`missing ${missing.join(", ")}: run scripts/setup.sh (it installs runc, containernetworking-plugins, nftables, mmdebstrap)`);

  const t0 = Date.now();
  const { kubeBin, nodeBin } = await buildNodeBinaries();
  progress(`binaries ready in ${Math.round((Date.now() - t0) / 1000)} s`);
  const t1 = Date.now();
  const images = await buildImages(join(nodeBin, "pause"));
  progress(
    `images ready in ${Math.round((Date.now() - t1) / 1000)} s: ${Object.values(images)
      .map((i) => `${i.ref} ${(i.size / 1e6).toFixed(0)} MB`)
      .join(", ")}`,
  );

  await sweepStaleRuns(progress);
  const dir = await mkdtemp(join(tmpdir(), DIR_PREFIX));
  const id = basename(dir);
  await writeFile(join(dir, "owner.pid"), `${process.pid}\n`);
  const deadline = Date.now() + (options.startTimeoutMs ?? 300_000);
  const children: ChildProcess[] = [];
  const logOf = (name: string) => join(dir, `${name}.log`);

  // The machine's kernel tunables as they were: the node test checks the kubelet left them.
  const hostTunables = Object.fromEntries(KUBELET_TUNABLES.map((name) => [name, readFileSync(join("/proc/sys", name), "utf8").trim()]));
  createCgroups(id);
  const kubeNode = join(nodeBin, "kube-node");
  const sandbox = spawnLogged(
    kubeNode,
    [
      "sandbox",
      "--dir",
      dir,
      "--node-ip",
      NODE_IP,
      "--hostname",
      NODE_NAME,
      "--forward",
      `apiserver=${NODE_IP}:6443`,
      ...Object.entries(options.forwards ?? {}).flatMap(([name, target]) => ["--forward", `${name}=${target}`]),
    ],
    logOf("sandbox"),
    "pipe",
  );
  const state = { sandbox, cgroup: id, dir, keep };
  running.add(state);
  if (!exitHook) {
    exitHook = true;
    // The sandbox dies with this process anyway (PDEATHSIG); this only makes it prompt.
    process.on("exit", () => {
      for (const s of running) s.sandbox.kill("SIGKILL");
    });
  }

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (sandbox.exitCode === null && sandbox.signalCode === null) {
      const exited = new Promise<void>((resolve) => sandbox.once("exit", () => resolve()));
      sandbox.kill("SIGTERM");
      const timer = setTimeout(() => sandbox.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
    }
    running.delete(state);
    const left = await removeCgroups(id);
    if (left.length > 0) progress(`cgroups not removed (still busy): ${left.join(", ")}`);
    if (!keep) await rm(dir, { recursive: true, force: true });
  };

  try {
    const ready = await firstLine(sandbox, 30_000);
    const { pid: initPid, forwards } = JSON.parse(ready) as { pid: number; forwards: Record<string, string> };
    const inside = (name: string, args: string[]): ChildProcess => {
      const child = spawnLogged("nsenter", ["--target", String(initPid), "--mount", "--uts", "--ipc", "--net", "--pid", "--", ...args], logOf(name), "ignore");
      children.push(child);
      return child;
    };
    const exec = (args: string[], opts: { input?: string; timeoutMs?: number } = {}) =>
      run("nsenter", ["--target", String(initPid), "--mount", "--uts", "--ipc", "--net", "--pid", "--", ...args], opts);
    // The node has no default route (no way out). Host-network pods (the agent) reach Service
    // addresses only if the kernel finds a route before kube-proxy's DNAT rewrites the
    // destination: one for the Service range, on the loopback interface.
    const route = await exec(["ip", "route", "add", SERVICE_RANGE, "dev", "lo"]);
    if (route.code !== 0) throw new Error(`ip route add ${SERVICE_RANGE}: ${route.stderr}`);

    // PKI and kubeconfigs (the API server inside listens on the node's address; the host reaches
    // it through the sandbox's forward on 127.0.0.1).
    const pki = new Pki(join(dir, "pki"));
    await pki.createCa();
    const apiSans = [
      "IP:127.0.0.1",
      `IP:${NODE_IP}`,
      "IP:10.96.0.1",
      "DNS:localhost",
      "DNS:kubernetes",
      "DNS:kubernetes.default",
      "DNS:kubernetes.default.svc",
      "DNS:kubernetes.default.svc.cluster.local",
    ];
    const [servingCrt, servingKey] = await pki.issueServer("serving", "kube-apiserver", apiSans);
    await pki.issueServer("kubelet-serving", NODE_NAME, [`IP:${NODE_IP}`, `DNS:${NODE_NAME}`]);
    const [saPub, saKey] = await pki.serviceAccountKey();
    const inNode = `https://${NODE_IP}:6443`;
    const kubeconfigFor = async (file: string, cn: string, orgs: string[] = []) => {
      const [crt, key] = await pki.issue(file, "client", cn, orgs);
      const path = join(dir, `${file}.kubeconfig`);
      await writeKubeconfig(path, inNode, pki.caCrt, cn, crt, key);
      return path;
    };
    const [adminCrt, adminKey] = await pki.issue("admin", "client", "admin", ["system:masters"]);
    const server = `https://${forwards.apiserver}`;
    await writeKubeconfig(join(dir, "admin.kubeconfig"), server, pki.caCrt, "admin", adminCrt, adminKey);
    const [kubeletClientCrt, kubeletClientKey] = await pki.issue("apiserver-kubelet-client", "client", "kube-apiserver-kubelet-client", ["system:masters"]);
    const cmKubeconfig = await kubeconfigFor("controller-manager", "system:kube-controller-manager");
    const schedulerKubeconfig = await kubeconfigFor("scheduler", "system:kube-scheduler");
    const kubeletKubeconfig = await kubeconfigFor("kubelet", `system:node:${NODE_NAME}`, ["system:nodes"]);
    const proxyKubeconfig = await kubeconfigFor("kube-proxy", "system:kube-proxy");
    await writeFile(join(dir, "control-plane.json"), JSON.stringify({ server }, null, 2));
    const handle = makeHandle(dir, kubeBin, server);

    // etcd and kube-apiserver
    await mkdir(join(dir, "etcd"), { mode: 0o700 });
    inside("etcd", [
      join(kubeBin, "kube-testenv"),
      "etcd",
      "--data-dir",
      join(dir, "etcd"),
      "--listen-client-url",
      "http://127.0.0.1:2379",
      "--listen-peer-url",
      "http://127.0.0.1:2380",
      "--unsafe-no-fsync",
    ]);
    inside("kube-apiserver", [
      join(kubeBin, "kube-testenv"),
      "kube-apiserver",
      "--etcd-servers=http://127.0.0.1:2379",
      "--bind-address=0.0.0.0",
      "--secure-port=6443",
      `--advertise-address=${NODE_IP}`,
      `--cert-dir=${join(dir, "apiserver-certs")}`,
      `--tls-cert-file=${servingCrt}`,
      `--tls-private-key-file=${servingKey}`,
      `--client-ca-file=${pki.caCrt}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      `--service-cluster-ip-range=${SERVICE_RANGE}`,
      "--authorization-mode=Node,RBAC",
      "--enable-admission-plugins=NodeRestriction",
      "--allow-privileged=true",
      `--kubelet-client-certificate=${kubeletClientCrt}`,
      `--kubelet-client-key=${kubeletClientKey}`,
      `--kubelet-certificate-authority=${pki.caCrt}`,
      "--kubelet-preferred-address-types=InternalIP",
    ]);
    const apiReady = async () => {
      const r = await handle.request("GET", "/readyz");
      return r.status === 200 && r.body.trim() === "ok";
    };
    await waitOrExplain("kube-apiserver /readyz", deadline, [sandbox, ...children], apiReady, [logOf("kube-apiserver"), logOf("etcd"), logOf("sandbox")]);
    progress(`API server ready (${server})`);

    // controller-manager and scheduler
    inside("kube-controller-manager", [
      join(nodeBin, "kube-node"),
      "kube-controller-manager",
      `--kubeconfig=${cmKubeconfig}`,
      `--authentication-kubeconfig=${cmKubeconfig}`,
      `--authorization-kubeconfig=${cmKubeconfig}`,
      `--service-account-private-key-file=${saKey}`,
      `--root-ca-file=${pki.caCrt}`,
      "--use-service-account-credentials=true",
      `--service-cluster-ip-range=${SERVICE_RANGE}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      // Nodes are not given pod CIDRs: the CNI config owns the one subnet.
      "--allocate-node-cidrs=false",
    ]);
    inside("kube-scheduler", [
      join(nodeBin, "kube-node"),
      "kube-scheduler",
      `--kubeconfig=${schedulerKubeconfig}`,
      `--authentication-kubeconfig=${schedulerKubeconfig}`,
      `--authorization-kubeconfig=${schedulerKubeconfig}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
    ]);

    // containerd, with the local images
    await mkdir(join(dir, "cni", "net.d"), { recursive: true });
    await writeFile(join(dir, "cni", "net.d", "10-eop-bridge.conflist"), cniConfig(dir));
    await writeFile(join(dir, "containerd.toml"), containerdConfig(dir, images.pause.ref));
    const ctrdChild = inside("containerd", [
      "env",
      `PATH=${nodeBin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      join(nodeBin, "containerd"),
      "--config",
      join(dir, "containerd.toml"),
    ]);
    const ctr = (args: string[]) =>
      exec([join(nodeBin, "ctr"), "--address", join(dir, "containerd.sock"), "--namespace", "k8s.io", ...args], { timeoutMs: 300_000 });
    await waitOrExplain("containerd", deadline, [sandbox, ctrdChild], async () => (await ctr(["version"])).code === 0, [logOf("containerd")]);
    const t2 = Date.now();
    for (const image of Object.values(images)) {
      const r = await ctr(["images", "import", "--platform", "linux/amd64", image.archive]);
      if (r.code !== 0) throw new Error(`ctr images import ${image.archive}: ${r.stderr}`);
    }
    const listed = (await ctr(["images", "list", "--quiet"])).stdout;
    for (const image of Object.values(images))
      if (!listed.split("\n").includes(image.ref)) throw new Error(`${image.ref} is not in containerd after the import:\n${listed}`);
    progress(`images imported into containerd in ${Math.round((Date.now() - t2) / 1000)} s`);

    // kubelet and kube-proxy
    await writeFile(join(dir, "kubelet.yaml"), kubeletConfig(dir, pki, `/${id}`));
    inside("kubelet", [
      join(nodeBin, "kube-node"),
      "kubelet",
      `--config=${join(dir, "kubelet.yaml")}`,
      `--kubeconfig=${kubeletKubeconfig}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${NODE_IP}`,
      "--v=2",
    ]);
    await writeFile(join(dir, "kube-proxy.yaml"), kubeProxyConfig(proxyKubeconfig));
    inside("kube-proxy", [join(nodeBin, "kube-node"), "kube-proxy", `--config=${join(dir, "kube-proxy.yaml")}`]);

    await waitOrExplain(
      `node ${NODE_NAME} Ready`,
      deadline,
      [sandbox, ...children],
      async () => {
        const r = await handle.kubectl(["get", "node", NODE_NAME, "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
        return r.code === 0 && r.stdout.trim() === "True";
      },
      [logOf("kubelet"), logOf("containerd"), logOf("kube-controller-manager")],
    );
    // Service accounts and the kube-root-ca.crt ConfigMap come from the controller-manager.
    await waitOrExplain(
      "the default ServiceAccount",
      deadline,
      [sandbox, ...children],
      async () => (await handle.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")).status === 200,
      [logOf("kube-controller-manager")],
    );
    progress(`node ${NODE_NAME} Ready after ${Math.round((Date.now() - t0) / 1000)} s (dir ${dir})`);
    await writeFile(join(dir, "node.json"), JSON.stringify({ initPid, forwards, images, nodeBin, cgroup: id, hostTunables }, null, 2));

    return {
      ...handle,
      nodeName: NODE_NAME,
      nodeIp: NODE_IP,
      initPid,
      images,
      forwards,
      nodePath: (path: string) => join(`/proc/${initPid}/root`, path),
      exec,
      spawnInside: inside,
      log: logOf,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function spawnLogged(cmd: string, args: string[], logFile: string, stdout: "pipe" | "ignore"): ChildProcess {
  const fd = openSync(logFile, "a");
  try {
    return spawn(cmd, args, {
      stdio: ["ignore", stdout === "pipe" ? "pipe" : fd, fd],
      // The Go side asks the kernel to SIGTERM it when its parent dies.
      env: { ...process.env, KUBE_TESTENV_PDEATHSIG: "1" },
    });
  } finally {
    closeSync(fd);
  }
}

function firstLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error("the sandbox did not report ready in time")), timeoutMs);
    child.stdout!.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      const newline = buffer.indexOf("\n");
      if (newline >= 0) {
        clearTimeout(timer);
        resolve(buffer.slice(0, newline));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the sandbox exited (${code}) before it was ready`));
    });
  });
}

async function waitOrExplain(what: string, deadline: number, children: ChildProcess[], check: () => Promise<boolean>, logs: string[]): Promise<void> {
  try {
    await waitFor(what, deadline, children, check);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${logs.map((l) => `--- ${l} (tail) ---\n${tail(l, 30)}`).join("\n")}`);
  }
}

/** The cluster the `node` project's global setup started, from $EOP_TEST_KUBE_DIR. */
export function attachNodeCluster(env: NodeJS.ProcessEnv = process.env): Omit<NodeCluster, "stop"> {
  const dir = env.EOP_TEST_KUBE_DIR;
  if (!dir || !existsSync(join(dir, "node.json")))
    throw new Error('no node cluster: run this test in the vitest "node" project (globalSetup test/helpers/node/global-setup.ts)');
  const { server } = JSON.parse(readFileSync(join(dir, "control-plane.json"), "utf8")) as { server: string };
  const { initPid, forwards, images } = JSON.parse(readFileSync(join(dir, "node.json"), "utf8")) as {
    initPid: number;
    forwards: Record<string, string>;
    images: ImageArchives;
  };
  const handle = makeHandle(dir, env.EOP_TEST_KUBE_BIN || defaultBinDir, server);
  const nsenter = ["--target", String(initPid), "--mount", "--uts", "--ipc", "--net", "--pid", "--"];
  return {
    ...handle,
    nodeName: NODE_NAME,
    nodeIp: NODE_IP,
    initPid,
    images,
    forwards,
    nodePath: (path: string) => join(`/proc/${initPid}/root`, path),
    exec: (args: string[], opts: { input?: string; timeoutMs?: number } = {}) => run("nsenter", [...nsenter, ...args], opts),
    // setpriv --pdeathsig: the program dies with its nsenter, which dies with this worker.
    spawnInside: (name: string, args: string[]) =>
      spawnLogged("nsenter", [...nsenter, "setpriv", "--pdeathsig", "TERM", "--", ...args], join(dir, `${name}.log`), "ignore"),
    log: (name: string) => join(dir, `${name}.log`),
  };
}
