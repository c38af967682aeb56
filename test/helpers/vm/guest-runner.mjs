// Runs one VM-test scenario INSIDE the guest (see docs/vm-tests.md and guest.ts, which writes the
// scenario file and reads what this prints). Plain JavaScript: the guest runs the host's node on
// the host's files, with no build step in between.
//
//   node guest-runner.mjs <scenario.json>
//
// It copies the scenario's manifests byte for byte into a fresh config directory, starts the
// built agent (packages/core/dist/cli.js run ...), waits until /status shows the named resources
// Running, runs the steps (read /metrics, read /status, exec a command N times, open a path N
// times) and stops the agent. Every result is one console line:
//
//   EOP-RESULT <label> <base64 of JSON>
//
// Agent log lines are echoed as `EOP-LOG <line>`, progress as `EOP-STEP <text>`.
import { Buffer } from "node:buffer";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";

const started = Date.now();
const elapsed = () => Date.now() - started;

function emit(label, value) {
  const payload = Buffer.from(JSON.stringify(value), "utf8").toString("base64");
  process.stdout.write(`EOP-RESULT ${label} ${payload}\n`);
}

function progress(text) {
  process.stdout.write(`EOP-STEP +${elapsed()}ms ${text}\n`);
}

function httpGet(url, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, contentType: res.headers["content-type"] ?? null, body: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

function sha256(path) {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

async function main() {
  const scenarioPath = process.argv[2];
  if (!scenarioPath) throw new Error("usage: guest-runner.mjs <scenario.json>");
  const scenario = JSON.parse(readFileSync(scenarioPath, "utf8"));
  const work = scenario.workDir ?? "/run/eop/vm";
  const configDir = join(work, "config");
  const cacheDir = join(work, "cache");
  const pinRoot = scenario.pinRoot ?? "/sys/fs/bpf/eop-vm";
  mkdirSync(configDir, { recursive: true });
  mkdirSync(cacheDir, { recursive: true });

  emit("guest", {
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    kprobePmu: existsSync("/sys/bus/event_source/devices/kprobe"),
    kprobeEvents: existsSync("/sys/kernel/tracing/kprobe_events"),
    node: process.version,
    uptimeSeconds: Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]),
  });

  const copied = [];
  for (const file of scenario.manifests) {
    const target = join(configDir, file.name ?? basename(file.source));
    copyFileSync(file.source, target);
    copied.push({ source: file.source, target, sha256: sha256(target) });
  }
  emit("config-files", copied);

  const listen = scenario.listen ?? "127.0.0.1:9442";
  const base = `http://${listen}`;
  const args = [
    scenario.cli,
    "run",
    "--config",
    configDir,
    "--listen",
    listen,
    "--pin-root",
    pinRoot,
    "--cache-dir",
    cacheDir,
    "--log-level",
    scenario.logLevel ?? "info",
    // Emulated (TCG) on a shared host, clang can take minutes: the agent's 30 s default fails it.
    "--compile-timeout",
    String(scenario.compileTimeoutSeconds ?? 240),
  ];
  progress(`starting agent: node ${args.join(" ")}`);
  const agent = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const agentExit = new Promise((resolve) => agent.once("exit", (code, signal) => resolve({ code, signal })));
  let agentExited;
  void agentExit.then((r) => (agentExited = r));
  for (const stream of [agent.stdout, agent.stderr]) {
    createInterface({ input: stream }).on("line", (line) => process.stdout.write(`EOP-LOG ${line}\n`));
  }

  try {
    // Wait for every named resource to be Running; give up early when one settles otherwise.
    const wanted = scenario.waitRunning ?? [];
    const deadline = Date.now() + (scenario.readyTimeoutMs ?? 90_000);
    let last;
    for (;;) {
      if (agentExited) throw new Error(`agent exited before its resources were Running: ${JSON.stringify(agentExited)}`);
      try {
        const res = await httpGet(`${base}/status`, 5_000);
        last = JSON.parse(res.body);
        const phases = wanted.map((name) => last.resources.find((r) => r.name === name)?.phase);
        if (phases.every((p) => p === "Running")) break;
        const settled = phases.filter((p) => p === "Failed" || p === "Unsupported");
        if (settled.length > 0) {
          emit("status-at-failure", last);
          throw new Error(`resources not Running: ${wanted.map((n, i) => `${n}=${phases[i]}`).join(", ")}`);
        }
      } catch (error) {
        if (String(error).includes("resources not Running")) throw error;
      }
      if (Date.now() > deadline) {
        if (last) emit("status-at-failure", last);
        throw new Error(`timed out waiting for ${wanted.join(", ")} to be Running`);
      }
      await sleep(250);
    }
    progress(`resources Running: ${wanted.join(", ")}`);
    emit("ready", { ms: elapsed() });

    for (const step of scenario.steps) {
      const t0 = Date.now();
      if (step.kind === "metrics") {
        const res = await httpGet(`${base}/metrics`);
        emit(step.label, { status: res.status, contentType: res.contentType, body: res.body, ms: Date.now() - t0 });
      } else if (step.kind === "status") {
        const res = await httpGet(`${base}/status`);
        emit(step.label, { status: res.status, document: JSON.parse(res.body), ms: Date.now() - t0 });
      } else if (step.kind === "exec") {
        const failures = [];
        for (let i = 0; i < step.times; i++) {
          const r = spawnSync(step.command, step.args ?? [], { stdio: "ignore" });
          if (r.status !== 0) failures.push(r.error ? String(r.error) : `exit ${r.status}`);
        }
        emit(step.label, { times: step.times, failures, ms: Date.now() - t0 });
      } else if (step.kind === "open") {
        let opened = 0;
        let failed = 0;
        for (let i = 0; i < step.times; i++) {
          try {
            closeSync(openSync(step.path, "r"));
            opened++;
          } catch {
            failed++;
          }
        }
        emit(step.label, { times: step.times, opened, failed, ms: Date.now() - t0 });
      } else {
        throw new Error(`unknown step kind ${JSON.stringify(step.kind)}`);
      }
      progress(`step ${step.label} done`);
    }
  } finally {
    if (!agentExited) agent.kill("SIGTERM");
    const exit = await Promise.race([agentExit, sleep(15_000).then(() => undefined)]);
    if (!exit) agent.kill("SIGKILL");
    emit("agent-exit", exit ?? { code: null, signal: "SIGKILL (no exit 15 s after SIGTERM)" });
  }
}

main().then(
  () => {
    emit("runner", { ok: true, ms: elapsed() });
    process.exit(0);
  },
  (error) => {
    emit("runner", { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error), ms: elapsed() });
    process.exit(1);
  },
);
