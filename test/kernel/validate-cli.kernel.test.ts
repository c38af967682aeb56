/**
 * `ebpf-agent validate` against the load: the built CLI checks manifests (schema, plugins and
 * targets, the sandboxed compile, metrics against the object's BTF), and the built agent runs the
 * same manifests. Every manifest validate fails, the agent refuses with the same code and message;
 * the one it calls ok, the agent runs. The examples all validate.
 */
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliPath, createWorkspace, startAgent, waitFor, type AgentProcess, type AgentWorkspace } from "../helpers/agent-process.js";
import { requireKernelCapabilities } from "../helpers/kernel.js";
import { fetchStatus } from "../helpers/metrics.js";

requireKernelCapabilities();

const repoRoot = new URL("../../", import.meta.url).pathname;

const CODE = `#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

struct key_t {
  u32 pid;
  char comm[16];
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, struct key_t);
  __type(value, u64);
} calls SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
  struct key_t key = { .pid = bpf_get_current_pid_tgid() >> 32 };
  u64 one = 1, *count;

  bpf_get_current_comm(&key.comm, sizeof(key.comm));
  count = bpf_map_lookup_elem(&calls, &key);
  if (count)
    __sync_fetch_and_add(count, 1);
  else
    bpf_map_update_elem(&calls, &key, &one, BPF_NOEXIST);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

interface Case {
  name: string;
  /** spec lines other than code (two-space indented under spec:). */
  spec: string;
  code?: string;
  /** The error code both refuse it with; undefined: valid, runs. */
  error?: string;
  message?: RegExp;
}

const GOOD_SPEC = `  type: tracepoint
  target: syscalls/sys_enter_getppid
  program: on_getppid
  metrics:
    - { name: getppid_calls, map: calls, labels: [{ name: comm }] }`;

const CASES: Case[] = [
  { name: "v-good", spec: GOOD_SPEC },
  {
    name: "v-label-field",
    spec: GOOD_SPEC.replace("labels: [{ name: comm }]", "labels: [{ name: tgid }]"),
    error: "EOP_ERR_METRIC_INVALID",
    message: /spec\.metrics\[0\]\.labels\[0\]\.name of EbpfMap "default\/v-label-field": the key struct key_t has no member "tgid"/,
  },
  {
    name: "v-map",
    spec: GOOD_SPEC.replace("map: calls", "map: call_count"),
    error: "EOP_ERR_MAP_NOT_FOUND",
    message: /spec\.metrics\[0\]\.map "call_count" is not a map in the code of EbpfMap "default\/v-map" \(maps: calls\)/,
  },
  {
    name: "v-program",
    spec: GOOD_SPEC.replace("program: on_getppid", "program: on_getpid"),
    error: "EOP_ERR_PROGRAM_NOT_FOUND",
    message: /spec\.program "on_getpid" is not a program in the code of EbpfMap "default\/v-program" \(programs: on_getppid\)/,
  },
  {
    name: "v-per-cpu",
    spec: GOOD_SPEC.replace("labels: [{ name: comm }]", "labels: [{ name: comm }], perCpu: true"),
    error: "EOP_ERR_METRIC_INVALID",
    message: /spec\.metrics\[0\]\.perCpu .*map "calls" is a hash map, not a per-CPU one/,
  },
  {
    name: "v-histogram",
    spec: GOOD_SPEC.replace(
      "{ name: getppid_calls, map: calls, labels: [{ name: comm }] }",
      "{ name: getppid_hist, type: histogram, map: calls, histogram: { bucketType: exp2, bucketMax: 8 } }",
    ),
    error: "EOP_ERR_METRIC_INVALID",
    message: /a histogram needs an integer bucket index as the last key field .* but it is char\[16\]/,
  },
  {
    name: "v-compile",
    spec: GOOD_SPEC,
    code: CODE.replace("__sync_fetch_and_add(count, 1);", "__sync_fetch_and_add(count, undeclared);"),
    error: "EOP_ERR_COMPILE_FAILED",
    message: /undeclared/,
  },
  {
    name: "v-pinning",
    spec: GOOD_SPEC,
    code: CODE.replace("__type(value, u64);\n} calls", "__type(value, u64);\n  __uint(pinning, 2);\n} calls"),
    error: "EOP_ERR_OBJECT_REFUSED",
    message: /the code of EbpfMap "default\/v-pinning" is refused: .*map "calls" is declared with pinning 2: only LIBBPF_PIN_BY_NAME/,
  },
  {
    name: "v-target",
    spec: GOOD_SPEC.replace("target: syscalls/sys_enter_getppid", "target: sys_enter_getppid"),
    error: "EOP_ERR_TARGET_INVALID",
    message: /spec\.target "sys_enter_getppid" is not a valid tracepoint target/,
  },
];

function manifest(c: Case): string {
  const code = (c.code ?? CODE)
    .split("\n")
    .map((line) => (line ? `    ${line}` : ""))
    .join("\n");
  return `apiVersion: observability.cloud/v1\nkind: EbpfMap\nmetadata:\n  name: ${c.name}\nspec:\n${c.spec}\n  code: |\n${code}\n`;
}

async function validate(args: string[], env: Record<string, string> = {}): Promise<{ code: number; lines: string[] }> {
  const run = promisify(execFile);
  try {
    const { stdout } = await run("node", [cliPath, "validate", ...args], { maxBuffer: 16 << 20, env: { ...process.env, ...env } });
    return { code: 0, lines: stdout.trim().split("\n") };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, lines: `${e.stdout}${e.stderr}`.trim().split("\n") };
  }
}

describe("ebpf-agent validate agrees with the load", () => {
  let workspace: AgentWorkspace;
  let agent: AgentProcess;

  beforeAll(async () => {
    workspace = createWorkspace("validate");
    mkdirSync(workspace.configDir, { recursive: true });
    for (const c of CASES) writeFileSync(join(workspace.configDir, `${c.name}.yaml`), manifest(c));
    agent = await startAgent(workspace);
    await waitFor(
      "every case to settle",
      async () => {
        const statuses = (await fetchStatus(agent.url)).resources;
        return CASES.every((c) => ["Running", "Failed"].includes(statuses.find((s) => s.name === c.name)?.phase ?? "")) ? true : undefined;
      },
      120_000,
    );
  }, 180_000);

  afterAll(async () => {
    await agent?.stop();
    workspace?.cleanup();
  });

  it("fails exactly what the agent refuses, with its code and message, and calls ok what it runs", async () => {
    const result = await validate(["--cache-dir", workspace.cacheDir, workspace.configDir]);
    expect(result.code).toBe(1);
    const statuses = (await fetchStatus(agent.url)).resources;
    for (const c of CASES) {
      const line = result.lines.find((l) => l.includes(`EbpfMap "default/${c.name}"`));
      const status = statuses.find((s) => s.name === c.name)!;
      if (!c.error) {
        expect(line).toMatch(/^ok {3}/);
        expect(status.phase).toBe("Running");
        continue;
      }
      expect(line, c.name).toMatch(new RegExp(`^FAIL .*: ${c.error}: `));
      expect(line, c.name).toMatch(c.message!);
      expect(status.phase, c.name).toBe("Failed");
      expect(status.lastError?.code, c.name).toBe(c.error);
      expect(status.lastError?.message, c.name).toMatch(c.message!);
    }
  });

  it("refuses the issue's case, a decoder on a histogram's bucket label, before compiling", async () => {
    const dir = join(workspace.configDir, "..", "schema");
    mkdirSync(dir, { recursive: true });
    const spec = GOOD_SPEC.replace(
      "{ name: getppid_calls, map: calls, labels: [{ name: comm }] }",
      "{ name: h, type: histogram, map: calls, labels: [{ name: comm }, { name: pid, decoders: [{ name: uint }] }], histogram: { bucketType: exp2, bucketMax: 8 } }",
    );
    writeFileSync(join(dir, "bucket-decoder.yaml"), manifest({ name: "v-bucket-decoder", spec }));
    const result = await validate(["--schema-only", dir]);
    expect(result.code).toBe(1);
    expect(result.lines.join("\n")).toMatch(/spec\.metrics\[0\]\.labels\[1\]\.decoders: the last label of a histogram is the bucket index/);
  });

  it("compiles in the agent's sandbox: says so when it cannot be had, refuses with --compile-sandbox required", async () => {
    const dir = join(workspace.configDir, "..", "sandbox");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "good.yaml"), manifest({ name: "v-sandbox", spec: GOOD_SPEC }));
    const cacheDir = join(workspace.cacheDir, "..", "validate-sandbox-cache");
    const missing = ["--bwrap-path", "/nonexistent/bwrap", "--cache-dir", cacheDir];
    const unconfined = await validate([...missing, dir]);
    expect(unconfined.lines.find((l) => l.startsWith("warn "))).toMatch(/^warn COMPILER SANDBOX UNAVAILABLE: .*\/nonexistent\/bwrap/);
    expect(unconfined.lines.find((l) => l.includes('EbpfMap "default/v-sandbox"'))).toMatch(/^ok {3}/);
    expect(unconfined.code).toBe(0);
    const required = await validate([...missing, "--compile-sandbox", "required", dir]);
    expect(required.code).toBe(1);
    expect(required.lines.find((l) => l.includes('EbpfMap "default/v-sandbox"'))).toMatch(/^ERROR \(not checked\) .*EOP_ERR_COMPILE_SANDBOX_UNAVAILABLE/);
  });

  // No "warn" line either: every example compiled in the bubblewrap sandbox (header library included).
  it("calls every example ok, compiled and planned", async () => {
    const result = await validate(["--cache-dir", workspace.cacheDir, join(repoRoot, "examples")], {
      EBPF_AGENT_PLUGINS: join(repoRoot, "examples/plugin-uprobe"),
    });
    expect(result.lines.filter((l) => !l.startsWith("ok "))).toEqual([]);
    expect(result.code).toBe(0);
  });
});
