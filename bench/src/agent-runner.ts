/** Runs the built agent CLI (`ebpf-agent run`) for the footprint and event benchmarks. */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLoggedProcess, type LoggedProcess } from "../../test/helpers/node-process.js";
import { AGENT_NODE_FLAGS, agentCli, sleep } from "./common.js";

export interface AgentBench {
  configDir: string;
  pinRoot: string;
  cacheDir: string;
  write(file: string, manifest: string): void;
  remove(file: string): void;
  start(extraArgs?: string[]): Promise<RunningBenchAgent>;
  /** Removes the pins (detaching every program) and the temp dirs. */
  cleanup(): void;
}

export interface RunningBenchAgent {
  process: LoggedProcess;
  pid: number;
  url: string;
  /** ms from spawn to "agent listening" */
  listeningMs: number;
  /** Waits until every named resource is Running; ms since spawn. */
  waitRunning(names: string[], timeoutMs?: number): Promise<number>;
  stop(): Promise<void>;
}

interface StatusDoc {
  resources: { name: string; phase: string; lastError?: { message: string } }[];
}

export function agentBench(label: string, options: { cacheDir?: string } = {}): AgentBench {
  const base = mkdtempSync(join(tmpdir(), `eop-bench-${label}-`));
  const configDir = join(base, "config");
  mkdirSync(configDir);
  const cacheDir = options.cacheDir ?? join(base, "cache");
  const pinRoot = `/sys/fs/bpf/eop-bench-${label}-${process.pid}`;
  return {
    configDir,
    pinRoot,
    cacheDir,
    write: (file, manifest) => writeFileSync(join(configDir, file), manifest),
    remove: (file) => rmSync(join(configDir, file), { force: true }),
    start: async (extraArgs = []) => {
      const spawned = performance.now();
      const proc = await startLoggedProcess(
        [...AGENT_NODE_FLAGS, agentCli, "run", "--config", configDir, "--listen", "127.0.0.1:0", "--pin-root", pinRoot, "--cache-dir", cacheDir, ...extraArgs],
        "agent listening",
        600_000,
      );
      const listeningMs = performance.now() - spawned;
      return {
        process: proc,
        pid: proc.child.pid!,
        url: proc.url,
        listeningMs,
        waitRunning: async (names, timeoutMs = 600_000) => {
          const deadline = Date.now() + timeoutMs;
          const wanted = new Set(names);
          for (;;) {
            const doc = (await (await fetch(`${proc.url}/status`)).json()) as StatusDoc;
            const running = doc.resources.filter((r) => wanted.has(r.name) && r.phase === "Running").length;
            const failed = doc.resources.find((r) => wanted.has(r.name) && (r.phase === "Failed" || r.phase === "Unsupported"));
            if (failed) throw new Error(`${failed.name} is ${failed.phase}: ${failed.lastError?.message}`);
            if (running === wanted.size) return performance.now() - spawned;
            if (Date.now() > deadline) throw new Error(`only ${running}/${wanted.size} resources running`);
            await sleep(50);
          }
        },
        stop: async () => {
          await proc.stop();
        },
      };
    },
    cleanup: () => {
      rmSync(pinRoot, { recursive: true, force: true });
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** The pinned program of a resource: <pinRoot>/default/<name>/<generation>/program. */
export function programPin(pinRoot: string, name: string): string {
  const dir = join(pinRoot, "default", name);
  const generation = readdirSync(dir)[0]!;
  return join(dir, generation, "program");
}
