/**
 * Structured logging: JSON lines (pino), with the resource's `namespace` and `ebpfmap` on every
 * line about a resource (see `resourceLogger`). Plugins receive the narrow `Logger` interface so
 * they do not depend on pino.
 */
import { pino } from "pino";
import type { ResourceRef } from "./api/manifest.js";

export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  child(fields: object): Logger;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export interface LoggerOptions {
  level?: LogLevel;
  /** The process logging (`ebpf-agent`, `ebpf-operator`, `ebpf-cluster-agent`), on every line. */
  component?: string;
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { component: options.component ?? "ebpf-agent" },
      timestamp: pino.stdTimeFunctions.isoTime,
      // "level":"warn", not "level":40: readable without pino's table.
      formatters: { level: (label) => ({ level: label }) },
    },
    // Logs go to stderr so stdout stays free for command output.
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

export function resourceLogger(logger: Logger, ref: ResourceRef): Logger {
  return logger.child({ namespace: ref.namespace, ebpfmap: ref.name });
}
