/**
 * The command lines as a user meets them, run as processes from the built packages (setup.sh
 * builds them): --help on every command exits 0, --version prints the package's version, an
 * unknown flag is named and exits 2, and log lines carry the component and the level's name.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../packages/core/src/logger.js";

const root = new URL("../../", import.meta.url).pathname;
const AGENT = `${root}packages/core/dist/cli.js`;
const OPERATOR = `${root}packages/operator/dist/cli.js`;

async function cli(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)("node", [file, ...args], { env: { ...process.env, NODE_NAME: "" } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const version = (pkg: string) => (JSON.parse(readFileSync(`${root}packages/${pkg}/package.json`, "utf8")) as { version: string }).version;

// Each case starts a Node process; on a busy machine that takes seconds.
describe("command lines", { timeout: 60_000 }, () => {
  it.each([
    [AGENT, ["--help"], "ebpf-agent run --config"],
    [AGENT, ["-h"], "ebpf-agent validate"],
    [AGENT, ["run", "--help"], "--remote-write-url"],
    [AGENT, ["run", "--config", "x", "-h"], "--pin-root"],
    [AGENT, ["validate", "--help"], "--schema-only"],
    [OPERATOR, ["--help"], "ebpf-operator agent --node-name"],
    [OPERATOR, ["-h"], "ebpf-operator run"],
    [OPERATOR, ["run", "--help"], "--no-leader-elect"],
    [OPERATOR, ["run", "--help"], "--compile-requests-per-namespace n"],
    [OPERATOR, ["agent", "--help"], "--node-name node"],
    [OPERATOR, ["compile-server", "--help"], "--memory-limit size"],
    [AGENT, ["run", "--help"], "--compile-timeout seconds"],
  ])("%s %j prints its usage and exits 0", async (file, args, text) => {
    const result = await cli(file, args);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(text);
  });

  it("prints each package's version", async () => {
    expect((await cli(AGENT, ["--version"])).stdout).toBe(`ebpf-agent ${version("core")}\n`);
    expect((await cli(OPERATOR, ["--version"])).stdout).toBe(`ebpf-operator ${version("operator")}\n`);
  });

  it.each([
    [AGENT, ["run", "--config", "x", "--bogus"], "ebpf-agent: ebpf-agent run: unknown flag --bogus; see ebpf-agent run --help"],
    [AGENT, ["run", "--config"], "ebpf-agent: ebpf-agent run: flag --config needs a value"],
    [AGENT, ["frobnicate"], 'ebpf-agent: unknown command "frobnicate"'],
    [AGENT, [], "a command is needed"],
    [AGENT, ["run", "--config", "x", "--log-level", "loud"], '--log-level "loud" is not one of debug, info, warn, error, silent'],
    [OPERATOR, ["agent", "--nodename", "n1"], "ebpf-operator: ebpf-operator agent: unknown flag --nodename; see ebpf-operator agent --help"],
    [OPERATOR, ["agent"], "--node-name (or $NODE_NAME) is required"],
    [OPERATOR, ["run", "--listen", "nowhere"], '--listen "nowhere" is not host:port'],
    [OPERATOR, ["run", "--compile-requests-per-namespace", "0"], '--compile-requests-per-namespace "0" is not a positive integer'],
    [AGENT, ["run", "--config", "x", "--compile-sandbox", "off"], '--compile-sandbox "off" is not one of auto, required'],
    [AGENT, ["run", "--config", "x", "--compile-timeout", "soon"], '--compile-timeout "soon" is not a positive number of seconds'],
    [OPERATOR, ["compile-server"], "--socket PATH is required"],
    [OPERATOR, ["compile-server", "--socket", "/nonexistent/s", "--memory-limit", "lots"], '--memory-limit "lots" is not a size'],
  ])("%s %j is a usage error naming what is wrong (exit 2)", async (file, args, message) => {
    const result = await cli(file, args);
    expect(result.stderr).toContain(message);
    expect(result.code).toBe(2);
  });

  it("logs JSON lines with the component and the level's name", () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    createLogger({ component: "ebpf-operator", destination }).warn({ key: "a/b" }, "retrying");
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: "warn", component: "ebpf-operator", key: "a/b", msg: "retrying" });
  });
});
