/**
 * VM tests: runs a scenario with the agent INSIDE a qemu guest booted from Debian's stock 6.1
 * kernel, which has kprobes (this machine's kernel does not). See docs/vm-tests.md.
 *
 * `buildGuest()` runs scripts/build-vm-guest.sh (cached) and returns the kernel and initramfs.
 * `runGuestScenario()` writes the scenario to a run directory below <repo>/.cache/vm/runs/ (the
 * guest sees the host's root file system read-only, so it reads it at the same path), boots
 * qemu (TCG, no network device), collects the serial console, parses the `EOP-` lines that
 * guest-init.sh and guest-runner.mjs print, and always kills qemu and removes the run directory.
 * The whole console is kept in <repo>/.cache/vm/logs/<scenario>.log for debugging.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const repoRoot = new URL("../../../", import.meta.url).pathname;
export const vmCacheDir = process.env.VM_CACHE_DIR ?? join(repoRoot, ".cache/vm");
const buildScript = join(repoRoot, "scripts/build-vm-guest.sh");
const runnerPath = join(repoRoot, "test/helpers/vm/guest-runner.mjs");
const cliPath = join(repoRoot, "packages/core/dist/cli.js");

export interface GuestImage {
  kernelVersion: string;
  kernel: string;
  initrd: string;
  qemu: string;
  /** What the build script printed. */
  buildLog: string;
  buildMs: number;
}

/** Builds (or finds cached) the guest kernel and initramfs. Throws with the script's output on failure. */
export function buildGuest(options: { force?: boolean } = {}): GuestImage {
  const started = Date.now();
  const result = spawnSync("bash", [buildScript, ...(options.force ? ["--force"] : [])], {
    encoding: "utf8",
    env: { ...process.env, VM_CACHE_DIR: vmCacheDir },
    timeout: 10 * 60_000,
  });
  const buildLog = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  if (result.status !== 0) {
    throw new Error(`scripts/build-vm-guest.sh failed (${result.error ? String(result.error) : `exit ${result.status}`}):\n${buildLog}`);
  }
  const env = Object.fromEntries(
    readFileSync(join(vmCacheDir, "guest.env"), "utf8")
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as const),
  );
  const need = (key: string): string => {
    const value = env[key];
    if (!value) throw new Error(`guest.env has no ${key}:\n${buildLog}`);
    return value;
  };
  return { kernelVersion: need("KVER"), kernel: need("KERNEL"), initrd: need("INITRD"), qemu: need("QEMU"), buildLog, buildMs: Date.now() - started };
}

/** What the guest does after the agent's resources are Running, in order. */
export type GuestStep =
  /** GET /metrics; result `{ status, contentType, body, ms }`. */
  | { kind: "metrics"; label: string }
  /** GET /status; result `{ status, document, ms }`. */
  | { kind: "status"; label: string }
  /** Run a command `times` times (no shell); result `{ times, failures, ms }`. */
  | { kind: "exec"; label: string; command: string; args?: string[]; times: number }
  /** open(2) + close a path `times` times; result `{ times, opened, failed, ms }`. */
  | { kind: "open"; label: string; path: string; times: number };

export interface GuestScenario {
  /** Names the console log (.cache/vm/logs/<name>.log) and the run directory. */
  name: string;
  /** Host paths copied byte for byte into the agent's config directory in the guest. */
  manifests: string[];
  /** metadata.name of every resource that must be Running before the steps run. */
  waitRunning: string[];
  steps: GuestStep[];
  /** Watchdog over the whole VM run: qemu is killed after it. Default 240 s. */
  timeoutMs?: number;
  /** How long the guest waits for the resources to be Running. Default 150 s. */
  readyTimeoutMs?: number;
  /**
   * The agent's compile timeout (--compile-timeout). Default 240 s: clang under TCG on a busy
   * host took over the agent's 30 s default (the compile failed with EOP_ERR_COMPILE_TIMEOUT).
   */
  compileTimeoutMs?: number;
  /** Guest memory, default 1024 MiB. */
  memoryMb?: number;
  /** Agent log level in the guest, default info. */
  logLevel?: "debug" | "info" | "warn" | "error";
  /**
   * A guest script of its own run instead of guest-runner.mjs (no agent process): plain
   * JavaScript, `node <path> <scenario.json>`, reading `args` from the scenario file and printing
   * `EOP-RESULT` lines itself. `manifests`, `waitRunning` and `steps` are then unused.
   */
  script?: { path: string; args: unknown };
}

export interface MetricsResult {
  status: number;
  contentType: string | null;
  body: string;
  ms: number;
}

export interface StatusResult {
  status: number;
  document: unknown;
  ms: number;
}

export interface GuestRun {
  /** Undefined when the scenario ran to the end in the guest and exited 0. */
  failure?: string;
  /** `EOP-EXIT` status of the scenario, undefined if the guest never got there. */
  exitStatus?: number;
  /** Every `EOP-RESULT`, by label. */
  results: Map<string, unknown>;
  /** The agent's log lines (JSON from pino), as echoed by the runner. */
  agentLogs: string[];
  /** Guest uptime at /init start and when the scenario started and ended, in seconds. */
  uptime: { boot?: number; ready?: number; exit?: number };
  /** Host wall time from qemu start to qemu exit. */
  durationMs: number;
  /** The whole serial console (and qemu's stderr). */
  console: string;
  consoleLogPath: string;
  /** The result for `label`, or an error naming the console log. */
  result<T>(label: string): T;
}

const TAIL_LINES = 60;

/** Boots the guest for one scenario. Never throws for a failed scenario: see `failure`. */
export async function runGuestScenario(image: GuestImage, scenario: GuestScenario): Promise<GuestRun> {
  const safeName = scenario.name.replace(/[^A-Za-z0-9_.-]/g, "_");
  const runDir = join(vmCacheDir, "runs", `${safeName}-${process.pid}-${Date.now().toString(36)}`);
  const logDir = join(vmCacheDir, "logs");
  const consoleLogPath = join(logDir, `${safeName}.log`);
  mkdirSync(runDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  try {
    const scenarioFile = join(runDir, "scenario.json");
    writeFileSync(
      scenarioFile,
      JSON.stringify(
        {
          cli: cliPath,
          manifests: scenario.manifests.map((source) => ({ source })),
          waitRunning: scenario.waitRunning,
          readyTimeoutMs: scenario.readyTimeoutMs ?? 150_000,
          compileTimeoutSeconds: Math.ceil((scenario.compileTimeoutMs ?? 240_000) / 1000),
          logLevel: scenario.logLevel ?? "info",
          steps: scenario.steps,
          ...(scenario.script ? { args: scenario.script.args } : {}),
        },
        null,
        2,
      ),
    );
    // The guest runs this with the host's /bin/sh, chrooted into the host's root (read-only).
    writeFileSync(
      join(runDir, "run.sh"),
      `exec ${shellQuote(process.execPath)} ${shellQuote(scenario.script?.path ?? runnerPath)} ${shellQuote(scenarioFile)}\n`,
    );
    const verbose = process.env.EOP_VM_VERBOSE === "1";
    const args = [
      "-accel",
      "tcg",
      "-m",
      String(scenario.memoryMb ?? 1024),
      "-smp",
      "1",
      "-nographic",
      "-no-reboot",
      "-nic",
      "none",
      "-kernel",
      image.kernel,
      "-initrd",
      image.initrd,
      "-append",
      `console=ttyS0 panic=-1${verbose ? "" : " quiet"} eop.run=${runDir}`,
      "-virtfs",
      "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
    ];
    const started = Date.now();
    const { output, timedOut, exit } = await runQemu(image.qemu, args, scenario.timeoutMs ?? 240_000, consoleLogPath);
    const durationMs = Date.now() - started;
    const parsed = parseConsole(output);
    let failure: string | undefined;
    if (timedOut) failure = `qemu killed by the ${scenario.timeoutMs ?? 240_000} ms watchdog`;
    else if (parsed.initError) failure = `guest /init failed: ${parsed.initError}`;
    else if (parsed.exitStatus === undefined) failure = `the guest stopped without EOP-EXIT (qemu ${exit})`;
    else if (parsed.exitStatus !== 0) {
      const runner = parsed.results.get("runner") as { error?: string } | undefined;
      failure = `scenario exited ${parsed.exitStatus}${runner?.error ? `: ${runner.error}` : ""}`;
    }
    if (parsed.garbled.length > 0 && !failure) failure = `unparseable result lines: ${parsed.garbled.join(" | ").slice(0, 500)}`;
    if (failure) failure = `${failure}\nconsole log: ${consoleLogPath}\nlast lines:\n${tail(output, TAIL_LINES)}`;
    return {
      ...(failure === undefined ? {} : { failure }),
      ...(parsed.exitStatus === undefined ? {} : { exitStatus: parsed.exitStatus }),
      results: parsed.results,
      agentLogs: parsed.agentLogs,
      uptime: parsed.uptime,
      durationMs,
      console: output,
      consoleLogPath,
      result<T>(label: string): T {
        if (!parsed.results.has(label)) {
          throw new Error(`the guest printed no result "${label}"${failure ? `; ${failure}` : ` (console log: ${consoleLogPath})`}`);
        }
        return parsed.results.get(label) as T;
      },
    };
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

interface QemuOutcome {
  output: string;
  timedOut: boolean;
  exit: string;
}

function runQemu(qemu: string, args: string[], timeoutMs: number, logPath: string): Promise<QemuOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(qemu, args, { stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.stderr.on("data", (c: Buffer) => chunks.push(c));
    let timedOut = false;
    // Whatever happens to this process, qemu does not outlive it.
    const killOnExit = () => child.kill("SIGKILL");
    process.once("exit", killOnExit);
    const watchdog = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    const finish = (exit: string) => {
      clearTimeout(watchdog);
      process.removeListener("exit", killOnExit);
      const output = Buffer.concat(chunks).toString("utf8").replace(/\r/g, "");
      writeFileSync(logPath, output);
      resolve({ output, timedOut, exit });
    };
    child.once("error", (error) => {
      clearTimeout(watchdog);
      process.removeListener("exit", killOnExit);
      reject(new Error(`cannot start ${qemu}: ${String(error)}`));
    });
    child.once("close", (code, signal) => finish(signal ? `killed by ${signal}` : `exited ${code}`));
  });
}

interface ParsedConsole {
  results: Map<string, unknown>;
  agentLogs: string[];
  garbled: string[];
  exitStatus?: number;
  initError?: string;
  uptime: { boot?: number; ready?: number; exit?: number };
}

/** Reads the `EOP-` lines; anything else on the console (kernel, qemu) is ignored. */
export function parseConsole(output: string): ParsedConsole {
  const parsed: ParsedConsole = { results: new Map(), agentLogs: [], garbled: [], uptime: {} };
  const uptimeOf = (line: string) => {
    const m = /uptime=([0-9.]+)/.exec(line);
    return m ? Number(m[1]) : undefined;
  };
  for (const raw of output.split("\n")) {
    // A kernel message may precede a line on the same console row; the marker starts the data.
    const at = raw.indexOf("EOP-");
    if (at < 0) continue;
    const line = raw.slice(at).trimEnd();
    const space = line.indexOf(" ");
    const tag = space < 0 ? line : line.slice(0, space);
    const rest = space < 0 ? "" : line.slice(space + 1);
    switch (tag) {
      case "EOP-RESULT": {
        const [label, payload] = rest.split(" ");
        try {
          if (!label || !payload) throw new Error("missing label or payload");
          parsed.results.set(label, JSON.parse(Buffer.from(payload, "base64").toString("utf8")) as unknown);
        } catch {
          parsed.garbled.push(line.slice(0, 120));
        }
        break;
      }
      case "EOP-LOG":
        parsed.agentLogs.push(rest);
        break;
      case "EOP-BOOT":
        parsed.uptime.boot = uptimeOf(rest);
        break;
      case "EOP-READY":
        parsed.uptime.ready = uptimeOf(rest);
        break;
      case "EOP-EXIT":
        parsed.exitStatus = Number(rest.split(" ")[0]);
        parsed.uptime.exit = uptimeOf(rest);
        break;
      case "EOP-INIT-ERROR":
        parsed.initError = rest;
        break;
      default:
        break;
    }
  }
  return parsed;
}

function tail(text: string, lines: number): string {
  return text.split("\n").slice(-lines).join("\n");
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
