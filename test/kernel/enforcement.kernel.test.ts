/**
 * Kernel-side enforcement on the real kernel, through the agent's own container (compiler,
 * loader, real plugins) with the enforcement a tenancy policy would set:
 *
 * - observe mode: an XDP program returning XDP_DROP on a veth in a network namespace made here,
 *   and a cgroup_skb egress program returning "drop" on a child cgroup made here, let exactly N
 *   of N packets through (and the same programs in enforce mode drop all N, so the test can
 *   fail); attempts to defeat it are refused (tail call, redirect, adjust_head, packet and
 *   context writes) or ineffective (the verdict returned from a subprogram);
 * - least privilege: a cgroup_skb program calling bpf_probe_read_kernel loads with tracing
 *   privileges but is refused by the verifier under tenant loading, with a clear condition;
 * - verifier logs reach the status with the reason and source line first, kernel addresses
 *   scrubbed (the raw log, as a privileged loader gets it, has them);
 * - a map declared with LIBBPF_PIN_BY_NAME is allowed under tenant rules because the loader
 *   contains it in the resource's own generation directory: a map planted at the path libbpf
 *   would use and another tenant's resource declaring the same map are never reached, nothing is
 *   pinned outside the pin root, and deletion leaves nothing; any other pinning value is refused.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BpfLoadError } from "@ebpf-operator/libbpf";
import { BpfLink, BpfMap, BpfObject } from "@ebpf-operator/libbpf";
import {
  BpfCompiler,
  PLUGIN,
  TOKENS,
  createAgentContainer,
  createLogger,
  DEFAULT_TENANT_RULES,
  enforcementForPolicy,
  type Agent,
  type EnforcementGrant,
  type LoadEnforcement,
  type ParsedManifest,
  type ResourceStatus,
} from "@ebpf-operator/core";
import { cgroupPlugin } from "../../packages/plugin-cgroup/src/cgroup-plugin.js";
import { findCgroup2Mount } from "../../packages/plugin-cgroup/src/cgroup-mount.js";
import { createTestNetwork, type TestNetwork } from "../../packages/plugin-xdp/src/kernel-test-network.js";
import { xdpPlugin } from "../../packages/plugin-xdp/src/xdp-plugin.js";
import { tracepointPlugin } from "../../packages/plugin-tracepoint/src/tracepoint-plugin.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";

requireKernelCapabilities();

const N = 20;
const HEADER = "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n";
const SEEN_MAP = `
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u64);
} seen SEC(".maps");
static __attribute__((always_inline)) void count(void) {
  u32 k = 0;
  u64 *v = bpf_map_lookup_elem(&seen, &k);
  if (v) __sync_fetch_and_add(v, 1);
}
`;
const withLicense = (body: string): string => `${HEADER}${SEEN_MAP}${body}\nchar LICENSE[] SEC("license") = "GPL";\n`;

const XDP_DROP = withLicense(`
SEC("xdp")
int drop_all(struct xdp_md *ctx) {
  count();
  if (ctx->rx_queue_index == 12345) return XDP_ABORTED;
  return XDP_DROP;
}`);

const XDP_DROP_FROM_SUBPROGRAM = withLicense(`
static __attribute__((noinline)) int verdict(struct xdp_md *ctx) {
  count();
  return ctx->ingress_ifindex ? XDP_DROP : XDP_ABORTED;
}
SEC("xdp")
int via_subprogram(struct xdp_md *ctx) {
  return verdict(ctx);
}`);

const XDP_ATTACKS: Record<string, { code: string; rule: string; pattern: RegExp }> = {
  "tail-call": {
    code: withLicense(`
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 1); __uint(key_size, 4); __uint(value_size, 4); } jumps SEC(".maps");
SEC("xdp")
int drop_all(struct xdp_md *ctx) {
  count();
  bpf_tail_call(ctx, &jumps, 0);
  return XDP_DROP;
}`),
    rule: "observe-helper",
    pattern:
      /calls bpf_tail_call at program\.bpf\.c:\d+ \(`bpf_tail_call\(ctx, &jumps, 0\);`\), which jumps to another program whose verdict would be final: not allowed in observe mode/,
  },
  redirect: {
    code: withLicense(`
SEC("xdp")
int drop_all(struct xdp_md *ctx) {
  count();
  return bpf_redirect(1, 0);
}`),
    rule: "observe-helper",
    pattern: /calls bpf_redirect at program\.bpf\.c:\d+ .*redirects the packet: not allowed in observe mode/,
  },
  "adjust-head": {
    code: withLicense(`
SEC("xdp")
int drop_all(struct xdp_md *ctx) {
  count();
  bpf_xdp_adjust_head(ctx, 14);
  return XDP_PASS;
}`),
    rule: "observe-helper",
    pattern: /calls bpf_xdp_adjust_head .*changes the packet: not allowed in observe mode/,
  },
  "packet-write": {
    code: withLicense(`
SEC("xdp")
int drop_all(struct xdp_md *ctx) {
  unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  count();
  if (data + 23 > end) return XDP_PASS;
  data[22] = 0; /* the IPv4 TTL */
  return XDP_PASS;
}`),
    rule: "observe-packet-store",
    pattern: /may write the packet at program\.bpf\.c:\d+ \(`data\[22\] = 0;/,
  },
};

const CGROUP_DROP = withLicense(`
SEC("cgroup_skb/egress")
int drop_egress(struct __sk_buff *skb) {
  count();
  return 0;
}`);

const CGROUP_MARK = withLicense(`
SEC("cgroup_skb/egress")
int drop_egress(struct __sk_buff *skb) {
  count();
  skb->mark = 0xbad;
  return 1;
}`);

const CGROUP_READ_KERNEL = withLicense(`
SEC("cgroup_skb/egress")
int drop_egress(struct __sk_buff *skb) {
  u64 word = 0;
  count();
  bpf_probe_read_kernel(&word, sizeof(word), (void *)(long)skb->len);
  return word != 42;
}`);

/** Two programs on one hook: the first lets the datagram pass, the second drops it. */
const CGROUP_PASS_THEN_DROP = withLicense(`
SEC("cgroup_skb/egress")
int first(struct __sk_buff *skb) {
  count();
  return 1;
}
SEC("cgroup_skb/egress")
int second(struct __sk_buff *skb) {
  count();
  return 0;
}`);

/** The second program of the pair reads kernel memory; the first is harmless. */
const CGROUP_SECOND_READS_KERNEL = withLicense(`
SEC("cgroup_skb/egress")
int first(struct __sk_buff *skb) {
  count();
  return 1;
}
SEC("cgroup_skb/egress")
int second(struct __sk_buff *skb) {
  u64 word = 0;
  bpf_probe_read_kernel(&word, sizeof(word), (void *)(long)skb->len);
  return word != 42;
}`);

const TRACEPOINT_NULL_DEREF = withLicense(`
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, u32); __type(value, u64); } table SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getpid")
int unchecked(void *ctx) {
  u32 k = 1;
  u64 *v = bpf_map_lookup_elem(&table, &k);
  *v += 1;
  return 0;
}`);

const pinnedMapName = `eop_pin_${process.pid % 100000}`;
const CGROUP_PINNED_MAP = `${HEADER}
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} ${pinnedMapName} SEC(".maps");
SEC("cgroup_skb/egress")
int drop_egress(struct __sk_buff *skb) {
  u32 k = 0;
  u64 *v = bpf_map_lookup_elem(&${pinnedMapName}, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 1;
}
char LICENSE[] SEC("license") = "GPL";
`;
/** The same map with a pinning value libbpf would not contain (nor accept): refused by the baseline. */
const CGROUP_PINNING_2 = CGROUP_PINNED_MAP.replace("LIBBPF_PIN_BY_NAME", "2");

function manifest(name: string, type: string, target: string, program: string, code: string, map = "seen"): ParsedManifest {
  return {
    source: `${name}.yaml`,
    document: 0,
    ref: { namespace: "tenant-a", name },
    resource: {
      apiVersion: "observability.cloud/v1",
      kind: "EbpfMap",
      metadata: { name, namespace: "tenant-a", generation: 1 },
      spec: { name: `${name}-packets`, type, target, program, map, help: "packets the program saw", prometheusType: "counter", code },
    } as ParsedManifest["resource"],
  };
}

describe("kernel-side enforcement", () => {
  const pinRoot = `/sys/fs/bpf/eop-test-enforce-${process.pid}`;
  const cacheDir = mkdtempSync(join(tmpdir(), "eop-enforce-"));
  const policies = new Map<string, LoadEnforcement>();
  let agent: Agent;
  let network: TestNetwork;
  let receiver: Socket;
  let cgroupDir: string;
  let cgroupReceiver: Socket;
  const cgroupName = `eop-test-enforce-${process.pid}`;

  const status = (name: string): ResourceStatus => {
    const s = agent.statuses().find((x) => x.name === name);
    if (!s) throw new Error(`no status for ${name}`);
    return s;
  };
  const ready = (name: string) => status(name).conditions.find((c) => c.type === "Ready");
  const seen = (name: string): number => {
    const loaded = status(name).program;
    if (!loaded) throw new Error(`${name} is not loaded`);
    using map = BpfMap.openPinned(join(loaded.pinDir, "map_seen"));
    return Number(map.lookup(Buffer.alloc(4))!.readBigUInt64LE(0));
  };

  /** Sends N datagrams from inside the test namespace; resolves with how many arrived. */
  async function sendThroughVeth(): Promise<number> {
    let got = 0;
    const onMessage = (): void => void got++;
    receiver.on("message", onMessage);
    const script =
      `const s=require("dgram").createSocket("udp4");let i=0;` +
      `const f=()=>s.send(Buffer.alloc(32,120),${receiver.address().port},"${network.hostAddress}",()=>{if(++i<${N})f();else s.close()});f();`;
    try {
      execFileSync("ip", ["netns", "exec", network.netns, process.execPath, "-e", script], { stdio: "pipe" });
      const deadline = Date.now() + 3000;
      while (got < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 200)); // a late straggler would show as > N
      return got;
    } finally {
      receiver.off("message", onMessage);
    }
  }

  /** Sends N datagrams to 127.0.0.1 from a process in the test cgroup; resolves with how many arrived. */
  async function sendFromCgroup(): Promise<number> {
    let got = 0;
    const onMessage = (): void => void got++;
    cgroupReceiver.on("message", onMessage);
    const script =
      `require("fs").writeFileSync(${JSON.stringify(join(cgroupDir, "cgroup.procs"))}, String(process.pid));` +
      `const s=require("dgram").createSocket("udp4");let i=0;` +
      `const f=()=>s.send(Buffer.alloc(32,120),${cgroupReceiver.address().port},"127.0.0.1",()=>{if(++i<${N})f();else s.close()});f();`;
    try {
      spawnSync(process.execPath, ["-e", script], { stdio: "pipe" });
      const deadline = Date.now() + 3000;
      while (got < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 200));
      return got;
    } finally {
      cgroupReceiver.off("message", onMessage);
    }
  }

  async function run(...manifests: ParsedManifest[]): Promise<void> {
    await agent.sync(manifests);
  }

  /** The agent's own container, with the real plugins and the test's policy per resource name. */
  async function newAgent(): Promise<Agent> {
    const container = await createAgentContainer({ pinRoot, cacheDir, plugins: [] }, createLogger({ level: "silent" }));
    container.bind(PLUGIN).toConstantValue(xdpPlugin);
    container.bind(PLUGIN).toConstantValue(cgroupPlugin);
    container.bind(PLUGIN).toConstantValue(tracepointPlugin);
    container.rebind(TOKENS.Enforcement).toConstantValue((ref) => policies.get(ref.name));
    return container.get(TOKENS.Agent);
  }

  beforeAll(async () => {
    agent = await newAgent();
    network = await createTestNetwork("e", 251);
    // A static neighbour entry: no ARP, so a dropping program sees (and drops) the datagrams
    // themselves, and a drop test leaves no failed neighbour entry behind for the next test.
    const peerIf = `eop${"e"}${process.pid % 100000}b`;
    const mac = readFileSync(`/sys/class/net/${network.hostIf}/address`, "utf8").trim();
    execFileSync("ip", ["-n", network.netns, "neigh", "replace", network.hostAddress, "lladdr", mac, "dev", peerIf, "nud", "permanent"]);
    receiver = createSocket("udp4");
    await new Promise<void>((resolve) => receiver.bind(0, network.hostAddress, resolve));
    const mount = await findCgroup2Mount();
    if (!mount) throw new Error("kernel tests need a cgroup v2 hierarchy");
    cgroupDir = join(mount, cgroupName);
    mkdirSync(cgroupDir);
    cgroupReceiver = createSocket("udp4");
    await new Promise<void>((resolve) => cgroupReceiver.bind(0, "127.0.0.1", resolve));
  });

  afterAll(async () => {
    await agent?.sync([]).catch(() => undefined);
    await new Promise<void>((resolve) => receiver?.close(() => resolve()));
    await new Promise<void>((resolve) => cgroupReceiver?.close(() => resolve()));
    await network?.remove();
    if (cgroupDir && existsSync(cgroupDir)) rmdirSync(cgroupDir);
    rmSync(pinRoot, { recursive: true, force: true });
    rmSync(cacheDir, { recursive: true, force: true });
    rmSync(`/sys/fs/bpf/${pinnedMapName}`, { force: true });
  });

  describe("observe mode on XDP", () => {
    const target = () => `xdp/${network.hostIf}`;

    it("drops all N packets in enforce mode (the program does drop)", async () => {
      policies.set("xdp-drop", { verdictMode: "enforce" });
      await run(manifest("xdp-drop", "xdp", target(), "drop_all", XDP_DROP));
      expect(ready("xdp-drop")?.status).toBe("True");
      expect(await sendThroughVeth()).toBe(0);
      expect(seen("xdp-drop")).toBeGreaterThanOrEqual(N);
      await run();
    });

    it("lets exactly N of N packets through when the same program runs in observe mode, and still runs it", async () => {
      policies.set("xdp-drop", { rules: DEFAULT_TENANT_RULES, verdictMode: "observe" });
      await run(manifest("xdp-drop", "xdp", target(), "drop_all", XDP_DROP));
      expect(ready("xdp-drop"), JSON.stringify(status("xdp-drop").lastError)).toMatchObject({ status: "True" });
      const before = seen("xdp-drop");
      expect(await sendThroughVeth()).toBe(N);
      expect(seen("xdp-drop") - before).toBeGreaterThanOrEqual(N);
    });

    it("switches a running program from observe to enforce and back as its policy changes", async () => {
      policies.set("xdp-drop", { verdictMode: "enforce" });
      await run(manifest("xdp-drop", "xdp", target(), "drop_all", XDP_DROP));
      expect(ready("xdp-drop"), status("xdp-drop").lastError?.message).toMatchObject({ status: "True", reason: "Serving" });
      expect(await sendThroughVeth()).toBe(0);
      policies.set("xdp-drop", { verdictMode: "observe" });
      await run(manifest("xdp-drop", "xdp", target(), "drop_all", XDP_DROP));
      expect(ready("xdp-drop"), status("xdp-drop").lastError?.message).toMatchObject({ status: "True", reason: "Serving" });
      expect(await sendThroughVeth()).toBe(N);
      await run();
    });

    it("does not adopt a pinned generation of another verdict mode after an agent restart", async () => {
      policies.set("xdp-drop", { verdictMode: "enforce" });
      await run(manifest("xdp-drop", "xdp", target(), "drop_all", XDP_DROP));
      const enforced = status("xdp-drop").program!;
      await agent.shutdown(); // pins stay, as when the agent restarts
      agent = await newAgent();
      policies.set("xdp-drop", { verdictMode: "observe" });
      await run(manifest("xdp-drop", "xdp", target(), "drop_all", XDP_DROP));
      expect(status("xdp-drop").program).toMatchObject({ adopted: false });
      expect(status("xdp-drop").program?.loadKey).not.toBe(enforced.loadKey);
      expect(existsSync(enforced.pinDir)).toBe(false);
      expect(await sendThroughVeth()).toBe(N);
      await run();
    });

    it("makes a verdict returned from a subprogram ineffective", async () => {
      policies.set("xdp-sub", { verdictMode: "observe" });
      await run(manifest("xdp-sub", "xdp", target(), "via_subprogram", XDP_DROP_FROM_SUBPROGRAM));
      expect(ready("xdp-sub")?.status).toBe("True");
      expect(await sendThroughVeth()).toBe(N);
      expect(seen("xdp-sub")).toBeGreaterThanOrEqual(N);
      await run();
    });

    for (const [name, attack] of Object.entries(XDP_ATTACKS)) {
      it(`refuses an attempt to defeat it: ${name}`, async () => {
        policies.set(`xdp-${name}`, { verdictMode: "observe" });
        await run(manifest(`xdp-${name}`, "xdp", target(), "drop_all", attack.code));
        const s = status(`xdp-${name}`);
        expect(s.phase).toBe("Failed");
        expect(ready(`xdp-${name}`)).toMatchObject({ status: "False", reason: "ObjectRefused" });
        expect(s.lastError?.code).toBe("EOP_ERR_OBJECT_REFUSED");
        expect(s.lastError?.message).toMatch(attack.pattern);
        expect(s.program).toBeUndefined();
        // Nothing was attached: traffic flows.
        expect(await sendThroughVeth()).toBe(N);
        await run();
      });
    }
  });

  describe("a policy's rules", () => {
    const target = () => `xdp/${network.hostIf}`;

    it("refuse a helper they do not grant before anything is loaded, naming it and the line", async () => {
      const code = withLicense(`
SEC("tracepoint/syscalls/sys_enter_getpid")
int signal_caller(void *ctx) {
  count();
  bpf_send_signal(9);
  return 0;
}`);
      policies.set("tp-signal", { rules: { ...DEFAULT_TENANT_RULES, verdictMode: "enforce" } });
      await run(manifest("tp-signal", "tracepoint", "syscalls/sys_enter_getpid", "signal_caller", code));
      expect(ready("tp-signal")).toMatchObject({ status: "False", reason: "ObjectRefused" });
      expect(status("tp-signal").lastError?.message).toMatch(
        /program "signal_caller" calls bpf_send_signal \(helper #109\) at program\.bpf\.c:\d+ \(`bpf_send_signal\(9\);`\), which signals a process; the rules allow the observe helper set/,
      );
      expect(existsSync(join(pinRoot, "tenant-a", "tp-signal"))).toBe(false);
      await run();
    });

    it("unload a running program once they refuse it", async () => {
      policies.set("xdp-drop", { rules: { ...DEFAULT_TENANT_RULES, verdictMode: "enforce" } });
      await run(manifest("xdp-drop", "xdp", target(), "drop_all", XDP_DROP));
      expect(ready("xdp-drop")?.status).toBe("True");
      const pinDir = status("xdp-drop").program!.pinDir;
      expect(await sendThroughVeth()).toBe(0);
      // The cluster admin takes XDP away from the namespace.
      policies.set("xdp-drop", { rules: { ...DEFAULT_TENANT_RULES, verdictMode: "enforce", programTypes: ["cgroup_skb"] } });
      await run(manifest("xdp-drop", "xdp", target(), "drop_all", XDP_DROP));
      expect(ready("xdp-drop")).toMatchObject({ status: "False", reason: "ObjectRefused" });
      expect(status("xdp-drop").lastError?.message).toMatch(/program "drop_all" is a xdp program; the rules allow cgroup_skb/);
      expect(status("xdp-drop")).toMatchObject({ phase: "Failed", program: undefined });
      expect(existsSync(pinDir)).toBe(false);
      expect(await sendThroughVeth()).toBe(N);
      await run();
    });

    it("do not let a restarted agent adopt pins they now refuse: the program is detached and its pins removed", async () => {
      policies.set("xdp-drop", { rules: { ...DEFAULT_TENANT_RULES, verdictMode: "enforce" } });
      await run(manifest("xdp-drop", "xdp", target(), "drop_all", XDP_DROP));
      const pinDir = status("xdp-drop").program!.pinDir;
      await agent.shutdown(); // the pins stay and the program keeps dropping while the agent is away
      expect(await sendThroughVeth()).toBe(0);
      agent = await newAgent();
      policies.set("xdp-drop", { rules: { ...DEFAULT_TENANT_RULES, verdictMode: "enforce", programTypes: ["cgroup_skb"] } });
      await run(manifest("xdp-drop", "xdp", target(), "drop_all", XDP_DROP));
      expect(ready("xdp-drop")).toMatchObject({ status: "False", reason: "ObjectRefused" });
      expect(existsSync(pinDir)).toBe(false);
      expect(await sendThroughVeth()).toBe(N);
      await run();
    });
  });

  describe("observe mode on cgroup_skb egress", () => {
    const target = () => `cgroup/skb/egress:/${cgroupName}`;

    it("drops all N datagrams of a process in the cgroup in enforce mode", async () => {
      policies.set("cg-drop", { verdictMode: "enforce" });
      await run(manifest("cg-drop", "cgroup", target(), "drop_egress", CGROUP_DROP));
      expect(ready("cg-drop")?.status).toBe("True");
      expect(await sendFromCgroup()).toBe(0);
      await run();
    });

    it("lets exactly N of N through in observe mode, and the program still sees them", async () => {
      policies.set("cg-drop", { verdictMode: "observe", rules: DEFAULT_TENANT_RULES });
      await run(manifest("cg-drop", "cgroup", target(), "drop_egress", CGROUP_DROP));
      expect(ready("cg-drop")?.status).toBe("True");
      expect(await sendFromCgroup()).toBe(N);
      expect(seen("cg-drop")).toBeGreaterThanOrEqual(N);
      await run();
    });

    it("refuses a write to skb->mark in observe mode, naming the line", async () => {
      policies.set("cg-mark", { verdictMode: "observe" });
      await run(manifest("cg-mark", "cgroup", target(), "drop_egress", CGROUP_MARK));
      expect(ready("cg-mark")).toMatchObject({ status: "False", reason: "ObjectRefused" });
      expect(status("cg-mark").lastError?.message).toMatch(/may write its context at program\.bpf\.c:\d+ \(`skb->mark = 0xbad;`\)/);
      await run();
    });

    it("refuses the address-rewriting connect4 hook in observe mode", async () => {
      policies.set("cg-connect", { verdictMode: "observe" });
      const code = `${HEADER}SEC("cgroup/connect4")\nint c(struct bpf_sock_addr *ctx) { ctx->user_port = 0; return 1; }\nchar LICENSE[] SEC("license") = "GPL";\n`;
      await run(manifest("cg-connect", "cgroup", `cgroup/connect4:/${cgroupName}`, "c", code, ""));
      expect(status("cg-connect").lastError?.message).toMatch(
        /cgroup_sock_addr program, which has enforce mode only \(connect, bind, sendmsg, recvmsg and getpeername hooks rewrite addresses\)/,
      );
      await run();
    });
  });

  describe("least privilege", () => {
    it("has the verifier refuse bpf_probe_read_kernel in a cgroup program under tenant loading, with a clear condition", async () => {
      policies.delete("cg-read");
      await run(manifest("cg-read", "cgroup", `cgroup/skb/egress:/${cgroupName}`, "drop_egress", CGROUP_READ_KERNEL));
      const s = status("cg-read");
      expect(s.phase).toBe("Failed");
      expect(ready("cg-read")).toMatchObject({ status: "False", reason: "LoadFailed" });
      expect(s.lastError?.code).toBe("EOP_ERR_LOAD_VERIFIER");
      // The reason and the tenant's source line come first.
      expect(s.lastError?.message).toMatch(
        /^load program "drop_egress" for EbpfMap "tenant-a\/cg-read": the verifier rejected it: program of this type cannot use helper bpf_probe_read_kernel#113 \(at program\.bpf\.c:\d+: `bpf_probe_read_kernel\(&word, sizeof\(word\), \(void \*\)\(long\)skb->len\);`\)\nverifier log/,
      );
      await run();
    });

    it("loads the same program when the policy grants tracing privileges (as root with full capabilities)", async () => {
      policies.set("cg-read", { tracingPrivileges: true });
      await run(manifest("cg-read", "cgroup", `cgroup/skb/egress:/${cgroupName}`, "drop_egress", CGROUP_READ_KERNEL));
      expect(ready("cg-read"), status("cg-read").lastError?.message).toMatchObject({ status: "True" });
      await run();
    });
  });

  describe("a resource of several programs (spec.programs)", () => {
    const target = () => `cgroup/skb/egress:/${cgroupName}`;
    /** `first` and `second` of `code` on the test cgroup's egress, as one resource. */
    const pair = (name: string, code: string): ParsedManifest => {
      const m = manifest(name, "cgroup", target(), "first", code);
      const { type: _type, target: _target, program: _program, ...spec } = m.resource.spec;
      const programs = ["first", "second"].map((program) => ({ program, type: "cgroup", target: target() }));
      return { ...m, resource: { ...m.resource, spec: { ...spec, programs } } as ParsedManifest["resource"] };
    };

    it("drops all N in enforce mode when the second program drops (the control)", async () => {
      policies.set("pair-drop", { verdictMode: "enforce" });
      await run(pair("pair-drop", CGROUP_PASS_THEN_DROP));
      expect(ready("pair-drop"), status("pair-drop").lastError?.message).toMatchObject({ status: "True" });
      expect(status("pair-drop").programs?.map((p) => p.name)).toEqual(["first", "second"]);
      expect(await sendFromCgroup()).toBe(0);
      await run();
    });

    it("forces every program's verdict in observe mode: exactly N of N pass, and both programs saw them", async () => {
      policies.set("pair-drop", { verdictMode: "observe", rules: DEFAULT_TENANT_RULES });
      await run(pair("pair-drop", CGROUP_PASS_THEN_DROP));
      expect(ready("pair-drop"), status("pair-drop").lastError?.message).toMatchObject({ status: "True" });
      expect(await sendFromCgroup()).toBe(N);
      expect(seen("pair-drop")).toBeGreaterThanOrEqual(2 * N);
      await run();
    });

    it("checks every program against the rules: a helper the second one calls is refused, naming it; nothing is loaded", async () => {
      policies.set("pair-read", { verdictMode: "observe", rules: DEFAULT_TENANT_RULES });
      await run(pair("pair-read", CGROUP_SECOND_READS_KERNEL));
      expect(ready("pair-read")).toMatchObject({ status: "False", reason: "ObjectRefused" });
      expect(status("pair-read").lastError?.message).toMatch(/program "second" calls bpf_probe_read_kernel \(helper #113\) at program\.bpf\.c:\d+/);
      expect(status("pair-read").program).toBeUndefined();
      await run();
    });

    it("verifies every program without CAP_PERFMON: the verifier refuses the second one's kernel read under tenant loading", async () => {
      policies.delete("pair-read");
      await run(pair("pair-read", CGROUP_SECOND_READS_KERNEL));
      expect(status("pair-read").lastError?.code).toBe("EOP_ERR_LOAD_VERIFIER");
      expect(status("pair-read").lastError?.message).toMatch(
        /^load program "second" for EbpfMap "tenant-a\/pair-read": the verifier rejected it: program of this type cannot use helper bpf_probe_read_kernel#113/,
      );
      await run();
    });
  });

  describe("verifier logs", () => {
    it("reach the status with the reason and the source line first and no kernel address", async () => {
      // What a privileged loader gets from the kernel: map addresses in the log.
      const object = await new BpfCompiler({ cacheDir }).compile({ source: TRACEPOINT_NULL_DEREF, label: "raw" });
      let raw = "";
      try {
        using obj = BpfObject.open({ path: object.objectPath });
        obj.load();
      } catch (error) {
        raw = (error as BpfLoadError).verifierLog;
      }
      expect(raw).toMatch(/0xffff[0-9a-f]{12}/);

      await run(manifest("tp-null", "tracepoint", "syscalls/sys_enter_getpid", "unchecked", TRACEPOINT_NULL_DEREF, "table"));
      const message = status("tp-null").lastError?.message ?? "";
      expect(status("tp-null").lastError?.code).toBe("EOP_ERR_LOAD_VERIFIER");
      expect(message).toMatch(
        /^load program "unchecked" for EbpfMap "tenant-a\/tp-null": the verifier rejected it: R\d invalid mem access 'map_value_or_null' \(at program\.bpf\.c:\d+: `\*v \+= 1;`\)\nverifier log \(last \d+ lines\):\n/,
      );
      expect(message).not.toMatch(/ffff[0-9a-f]{12}/);
      expect(message).toContain("<kernel-address>");
      expect(JSON.stringify(agent.statuses())).not.toMatch(/ffff[0-9a-f]{12}/);
      await run();
    });
  });

  describe("pins", () => {
    const rootPin = `/sys/fs/bpf/${pinnedMapName}`;
    const pinsNamed = (): string[] => readdirSync("/sys/fs/bpf").filter((e) => e.includes(pinnedMapName));

    it("refuses a map whose pinning value is not LIBBPF_PIN_BY_NAME, before anything is loaded, without a policy", async () => {
      policies.delete("cg-pin2");
      await run(manifest("cg-pin2", "cgroup", `cgroup/skb/egress:/${cgroupName}`, "drop_egress", CGROUP_PINNING_2, pinnedMapName));
      expect(ready("cg-pin2")).toMatchObject({ status: "False", reason: "ObjectRefused" });
      expect(status("cg-pin2").lastError?.message).toMatch(new RegExp(`map "${pinnedMapName}" is declared with pinning 2: only LIBBPF_PIN_BY_NAME`));
      expect(status("cg-pin2").program).toBeUndefined();
      expect(pinsNamed()).toEqual([]);
      expect(existsSync(join(pinRoot, "tenant-a", "cg-pin2"))).toBe(false);
      await run();
    });

    it("contains LIBBPF_PIN_BY_NAME under tenant rules: two tenants' maps of one name stay apart, a planted map is never reached, deletion leaves nothing", async () => {
      // A map planted where libbpf would pin (and reuse) one declared by name, holding a sentinel.
      execFileSync("bpftool", ["map", "create", rootPin, "type", "array", "key", "4", "value", "8", "entries", "1", "name", pinnedMapName]);
      const sentinel = Buffer.alloc(8);
      sentinel.writeBigUInt64LE(0x7777n);
      {
        using planted = BpfMap.openPinned(rootPin);
        planted.update(Buffer.alloc(4), sentinel);
      }
      try {
        const tenantRules: LoadEnforcement = { rules: DEFAULT_TENANT_RULES, verdictMode: "observe" };
        policies.set("cg-pin", tenantRules);
        const target = `cgroup/skb/egress:/${cgroupName}`;
        const a = manifest("cg-pin", "cgroup", target, "drop_egress", CGROUP_PINNED_MAP, pinnedMapName);
        const b = { ...a, ref: { namespace: "tenant-b", name: "cg-pin" } };
        await run(a, b);
        const of = (namespace: string): ResourceStatus => agent.statuses().find((x) => x.namespace === namespace && x.name === "cg-pin")!;
        for (const ns of ["tenant-a", "tenant-b"]) expect(of(ns).conditions.find((c) => c.type === "Ready")?.status, ns).toBe("True");
        const dirs = ["tenant-a", "tenant-b"].map((ns) => of(ns).program!.pinDir);
        for (const [i, ns] of ["tenant-a", "tenant-b"].entries()) expect(dirs[i]!.startsWith(join(pinRoot, ns, "cg-pin") + "/")).toBe(true);
        const counted = (dir: string): { id: number; value: number } => {
          using map = BpfMap.openPinned(join(dir, `map_${pinnedMapName}`));
          return { id: map.info.id, value: Number(map.lookup(Buffer.alloc(4))!.readBigUInt64LE(0)) };
        };
        expect(await sendFromCgroup()).toBe(N);
        const [inA, inB] = dirs.map(counted);
        // Each resource counted the N datagrams in a map of its own; the planted map is untouched.
        expect(inA!.id).not.toBe(inB!.id);
        expect(inA!.value).toBeGreaterThanOrEqual(N);
        expect(inB!.value).toBeGreaterThanOrEqual(N);
        {
          using planted = BpfMap.openPinned(rootPin);
          expect(planted.info.id).not.toBe(inA!.id);
          expect(planted.info.id).not.toBe(inB!.id);
          expect(planted.lookup(Buffer.alloc(4))!.readBigUInt64LE(0)).toBe(0x7777n);
        }
        expect(pinsNamed()).toEqual([pinnedMapName]); // nothing pinned beside the planted map
        await run();
        for (const dir of dirs) expect(existsSync(dir)).toBe(false);
        expect(existsSync(join(pinRoot, "tenant-a", "cg-pin"))).toBe(false);
        expect(existsSync(join(pinRoot, "tenant-b", "cg-pin"))).toBe(false);
      } finally {
        await run();
        rmSync(rootPin, { force: true });
      }
    });

    describe("links planted under the pin root", () => {
      // Another component's pins, outside the agent's root: a program attached to the test's
      // cgroup through a pinned link.
      const victim = `/sys/fs/bpf/eop-test-victim-${process.pid}`;
      beforeAll(async () => {
        mkdirSync(victim, { recursive: true });
        const object = await new BpfCompiler({ cacheDir }).compile({ source: CGROUP_DROP.replace("return 0;", "return 1;"), label: "victim" });
        using obj = BpfObject.open({ path: object.objectPath });
        obj.load();
        using program = obj.program("drop_egress");
        program.pin(join(victim, "program"));
        using link = program.attachCgroup(cgroupDir, "cgroup_inet_egress");
        link.pin(join(victim, "link"));
      });
      afterAll(() => rmSync(victim, { recursive: true, force: true }));
      const victimAttached = (): boolean => {
        using link = BpfLink.openPinned(join(victim, "link"));
        return link.info().programId > 0 && JSON.parse(execFileSync("bpftool", ["cgroup", "show", cgroupDir, "-j"], { encoding: "utf8" }) || "[]").length === 1;
      };

      it("never pins into a namespace directory that is a symbolic link", async () => {
        mkdirSync(pinRoot, { recursive: true });
        symlinkSync(victim, join(pinRoot, "tenant-b"));
        try {
          const m = manifest("cg-ok", "cgroup", `cgroup/skb/egress:/${cgroupName}`, "drop_egress", CGROUP_DROP.replace("return 0;", "return 1;"));
          await run({ ...m, ref: { namespace: "tenant-b", name: "cg-ok" } });
          const s = agent.statuses().find((x) => x.namespace === "tenant-b")!;
          expect(s.lastError?.code).toBe("EOP_ERR_PIN_FAILED");
          expect(s.lastError?.message).toMatch(/tenant-b under the pin root is a symbolic link: the agent never follows pins outside/);
          expect(readdirSync(victim).sort()).toEqual(["link", "program"]);
          expect(victimAttached()).toBe(true);
        } finally {
          await run();
          rmSync(join(pinRoot, "tenant-b"), { force: true });
        }
      });

      it("never detaches or deletes through links planted in a generation directory", async () => {
        const planted = join(pinRoot, "tenant-c", "res", "0123456789abcdef");
        mkdirSync(planted, { recursive: true });
        symlinkSync(join(victim, "program"), join(planted, "program"));
        symlinkSync(join(victim, "link"), join(planted, "link_0"));
        await agent.collectGarbage();
        expect(existsSync(planted)).toBe(false); // the planted links themselves are removed
        expect(readdirSync(victim).sort()).toEqual(["link", "program"]);
        expect(victimAttached()).toBe(true);
      });
    });
  });

  describe("a policy's grant and quotas (enforcementForPolicy)", () => {
    const target = () => `cgroup/skb/egress:/${cgroupName}`;
    const DEFAULT_GRANT: EnforcementGrant = {
      helpers: { sets: ["observe"] },
      verdictMode: "observe",
      quotas: { mapEntries: 65_536, mapBytesPerEbpfMap: 16 << 20, mapBytesPerNamespacePerNode: 64 << 10 },
    };
    /** A cgroup_skb program with a map of `entries` u32 -> u64. */
    const withTable = (entries: number, type = "BPF_MAP_TYPE_HASH"): string =>
      withLicense(`
struct { __uint(type, ${type}); __uint(max_entries, ${entries}); __type(key, u32); __type(value, u64); } table SEC(".maps");
SEC("cgroup_skb/egress")
int drop_egress(struct __sk_buff *skb) {
  u32 k = skb->len;
  u64 one = 1;
  count();
  bpf_map_update_elem(&table, &k, &one, BPF_NOEXIST);
  return 1;
}`);
    const inNamespace = (namespace: string, m: ParsedManifest): ParsedManifest => ({ ...m, ref: { namespace, name: m.ref!.name } });
    const statusOf = (namespace: string, name: string) => agent.statuses().find((x) => x.namespace === namespace && x.name === name);

    it("refuse a 50M-entry array before the kernel allocates it, naming the map and the limit; nothing is loaded", async () => {
      policies.set("q-huge", enforcementForPolicy(DEFAULT_GRANT));
      await run(manifest("q-huge", "cgroup", target(), "drop_egress", withTable(50_000_000, "BPF_MAP_TYPE_ARRAY")));
      expect(ready("q-huge")).toMatchObject({ status: "False", reason: "ObjectRefused" });
      expect(status("q-huge").lastError?.message).toMatch(/map "table" has max_entries 50000000; the rules allow 65536/);
      expect(status("q-huge").lastError?.message).toMatch(/the object's maps can hold 381\.5 MiB together; the rules allow 16\.0 MiB/);
      expect(status("q-huge").program).toBeUndefined();
      expect(existsSync(join(pinRoot, "tenant-a", "q-huge"))).toBe(false);
      await run();
    });

    it("hold a namespace to its map memory per node: of three EbpfMaps loaded at once exactly two fit, another namespace is not counted, and the third loads once one goes", async () => {
      // 1536 entries x 16 bytes (the kernel rounds a hash's key and value up to 8) = 24 KiB each, and
      // 8 bytes of `seen`: two fit in 64 KiB, three do not.
      for (const name of ["q-a", "q-b", "q-c", "q-other"]) policies.set(name, enforcementForPolicy(DEFAULT_GRANT));
      const resources = ["q-a", "q-b", "q-c"].map((name) => manifest(name, "cgroup", target(), "drop_egress", withTable(1536)));
      const bystander = inNamespace("tenant-b", manifest("q-other", "cgroup", target(), "drop_egress", withTable(1536)));
      await run(...resources, bystander);
      const phases = ["q-a", "q-b", "q-c"].map((name) => status(name).phase);
      expect(phases.filter((p) => p === "Running")).toHaveLength(2);
      expect(phases.filter((p) => p === "Failed")).toHaveLength(1);
      const refused = ["q-a", "q-b", "q-c"].find((name) => status(name).phase === "Failed")!;
      expect(ready(refused)).toMatchObject({ status: "False", reason: "ObjectRefused" });
      expect(status(refused).lastError?.message).toMatch(
        /the object's maps can hold 24\.0 KiB and the namespace's other EbpfMaps on this node hold 48\.0 KiB; the namespace may hold 64\.0 KiB per node/,
      );
      expect(status(refused).program).toBeUndefined();
      expect(statusOf("tenant-b", "q-other")?.phase).toBe("Running");
      // The traffic of the two that run is seen by both, the refused one has no map to look at.
      const running = ["q-a", "q-b", "q-c"].filter((name) => name !== refused);
      const before = running.map(seen);
      expect(await sendFromCgroup()).toBe(N);
      running.forEach((name, i) => expect(seen(name) - before[i]!).toBeGreaterThanOrEqual(N));
      // One of the running two goes: the refused one is tried again at the next sync and fits.
      await run(...resources.filter((m) => m.ref!.name !== running[0]), bystander);
      expect(status(refused).phase).toBe("Running");
      expect(statusOf("tenant-b", "q-other")?.phase).toBe("Running");
      await run();
    });

    it("keep a tracing program that reads kernel memory running under the default grant (tracing types keep CAP_PERFMON)", async () => {
      const code = withLicense(`
SEC("tracepoint/syscalls/sys_enter_openat")
int reader(void *ctx) {
  u64 word = 0;
  bpf_probe_read_kernel(&word, sizeof(word), (void *)bpf_get_current_task());
  if (word != 1) count();
  return 0;
}`);
      policies.set("tp-reader", enforcementForPolicy(DEFAULT_GRANT));
      await run(manifest("tp-reader", "tracepoint", "syscalls/sys_enter_openat", "reader", code));
      expect(ready("tp-reader"), status("tp-reader").lastError?.message).toMatchObject({ status: "True", reason: "Serving" });
      const before = seen("tp-reader");
      for (let i = 0; i < N; i++) readFileSync("/proc/self/stat");
      expect(seen("tp-reader")).toBeGreaterThan(before);
      await run();
    });
  });
});
