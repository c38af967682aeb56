/**
 * Command lines of every process (`ebpf-agent`, `ebpf-operator run|agent`): the flags they share,
 * one parser with one behaviour — `--help`/`-h` on any command prints its usage and exits 0, an
 * unknown flag or a bad value is an EOP_ERR_CONFIG naming it — and `--version`.
 */
import { readFileSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { describeError, operatorError } from "../errors.js";
import type { LogLevel } from "../logger.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Flags of every long-running process. Defaults differ per process, so none are set here. */
export const COMMON_OPTIONS = {
  listen: { type: "string" },
  "cache-dir": { type: "string" },
  plugin: { type: "string", multiple: true },
  "log-level": { type: "string" },
} as const satisfies Options;

export const COMMON_USAGE = `  --listen host:port                 where /metrics, /healthz, /readyz (and /status) are served
  --cache-dir dir                    compiled and fetched objects are cached here
  --plugin name-or-path              a program-type plugin package; repeat it (replaces the built-in list)
  --log-level debug|info|warn|error  (default info)`;

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];

export function parseLogLevel(text: string | undefined): LogLevel {
  const level = text ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw operatorError("EOP_ERR_CONFIG", `--log-level "${level}" is not one of ${LOG_LEVELS.join(", ")}`);
  return level as LogLevel;
}

export type Parsed<O extends Options> =
  { help: true } | { help: false; values: ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: true }>>["values"]; positionals: string[] };

/**
 * Parses one command's arguments. `--help`/`-h` wins over everything else; an unknown flag, a
 * missing value or a stray argument is an EOP_ERR_CONFIG that names it and the command.
 */
export function parseCommand<O extends Options>(command: string, args: readonly string[], options: O, allowPositionals = false): Parsed<O> {
  if (args.includes("--help") || args.includes("-h")) return { help: true };
  try {
    const { values, positionals } = parseArgs({ args: [...args], options, strict: true, allowPositionals: true });
    if (!allowPositionals && positionals.length > 0)
      throw operatorError("EOP_ERR_CONFIG", `${command}: unexpected argument "${positionals[0]}"; see ${command} --help`);
    return { help: false, values, positionals } as Parsed<O>;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== "string" || !code.startsWith("ERR_PARSE_ARGS")) throw error;
    // node:util's messages quote the flag: "Unknown option '--x'", "Option '-c, --config <value>' argument missing".
    const quoted = /'(-{1,2}[^']*)'/.exec((error as Error).message)?.[1] ?? "";
    const flag = /--[\w-]+/.exec(quoted)?.[0] ?? quoted;
    const what =
      code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
        ? `unknown flag ${flag}`.trim()
        : code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag
          ? `flag ${flag} needs a value`
          : (error as Error).message;
    throw operatorError("EOP_ERR_CONFIG", `${command}: ${what}; see ${command} --help`);
  }
}

/** The `version` of the package.json at `packageJsonUrl`. */
export function packageVersion(packageJsonUrl: URL): string {
  return (JSON.parse(readFileSync(packageJsonUrl, "utf8")) as { version: string }).version;
}

/**
 * Resolves on SIGTERM or SIGINT. Call it before starting anything that needs a clean stop: until
 * it is called, the signal's default action ends the process on the spot.
 */
export function signalled(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
}

/**
 * Runs a CLI's main: its exit code, or 2 for a usage error (EOP_ERR_CONFIG) and 1 for any other
 * failure, with the message on stderr.
 */
export function runMain(program: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${program}: ${describeError(error)}\n`);
      process.exit((error as { code?: unknown }).code === "EOP_ERR_CONFIG" ? 2 : 1);
    },
  );
}

export interface CliSpec {
  /** The program's name, as typed: `ebpf-agent`. */
  program: string;
  /** URL of the package.json whose version `--version` prints. */
  packageJson: URL;
  /** Printed by `--help`, `-h` and `help`. */
  usage: string;
  /** The subcommands; each gets its arguments after the command's name. */
  commands: Readonly<Record<string, (args: string[]) => Promise<number>>>;
}

/**
 * The shared top level of every CLI: `--version`, `--help`, dispatch to a subcommand, and an
 * unknown or missing command as a usage error. Exits with the command's code (see runMain).
 */
export function runCli(spec: CliSpec, argv: string[] = process.argv.slice(2)): void {
  runMain(spec.program, async () => {
    const [command, ...rest] = argv;
    if (command === "--version" || command === "-v") {
      process.stdout.write(`${spec.program} ${packageVersion(spec.packageJson)}\n`);
      return 0;
    }
    if (command === "--help" || command === "-h" || command === "help") {
      process.stdout.write(`${spec.usage}\n`);
      return 0;
    }
    const run = command === undefined ? undefined : spec.commands[command];
    if (run) return run(rest);
    const names = Object.keys(spec.commands).join(" or ");
    throw operatorError(
      "EOP_ERR_CONFIG",
      command ? `unknown command "${command}"; see ${spec.program} --help` : `a command is needed: ${names}; see ${spec.program} --help`,
    );
  });
}

/** Prints `usage` and answers true when the parsed command asked for help. */
export function helpAsked<O extends Options>(parsed: Parsed<O>, usage: string): parsed is { help: true } {
  if (parsed.help) process.stdout.write(`${usage}\n`);
  return parsed.help;
}
