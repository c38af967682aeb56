/**
 * Command-line and environment settings of the agent's self-observability: `--bpf-stats`,
 * `--remote-write-*`. Flags win over the environment (`EBPF_AGENT_*`, for DaemonSets).
 */
import { operatorError } from "../errors.js";
import type { ObservabilitySettings } from "./self-observability.js";
import { REMOTE_WRITE_DEFAULTS } from "../forwarding/remote-write.js";

export interface ObservabilityFlags {
  "bpf-stats"?: string;
  "remote-write-url"?: string;
  "remote-write-interval"?: string;
  "remote-write-timeout"?: string;
  "remote-write-max-pending-samples"?: string;
  "remote-write-label"?: string[];
}

/** parseArgs options for {@link ObservabilityFlags}. */
export const OBSERVABILITY_OPTIONS = {
  "bpf-stats": { type: "string" },
  "remote-write-url": { type: "string" },
  "remote-write-interval": { type: "string" },
  "remote-write-timeout": { type: "string" },
  "remote-write-max-pending-samples": { type: "string" },
  "remote-write-label": { type: "string", multiple: true },
} as const;

export const OBSERVABILITY_USAGE = `  --bpf-stats true|false            hold kernel BPF run-time stats on (default true; env EBPF_AGENT_BPF_STATS)
  --remote-write-url URL            also push samples to a Prometheus remote-write receiver (env EBPF_AGENT_REMOTE_WRITE_URL)
  --remote-write-interval DUR       push period, e.g. 15s, 1m, 500ms (default ${REMOTE_WRITE_DEFAULTS.intervalMs / 1000}s; env EBPF_AGENT_REMOTE_WRITE_INTERVAL)
  --remote-write-timeout DUR        per-request timeout (default ${REMOTE_WRITE_DEFAULTS.timeoutMs / 1000}s)
  --remote-write-max-pending-samples N
                                    queue bound; the oldest are dropped beyond it (default ${REMOTE_WRITE_DEFAULTS.maxPendingSamples})
  --remote-write-label name=value   label added to pushed series (repeat; default job=ebpf-agent, instance=<hostname>)`;

export function observabilitySettings(flags: ObservabilityFlags, env: NodeJS.ProcessEnv = process.env): ObservabilitySettings {
  const bpfStats = parseBoolean("--bpf-stats", flags["bpf-stats"] ?? env.EBPF_AGENT_BPF_STATS ?? "true");
  const url = flags["remote-write-url"] ?? env.EBPF_AGENT_REMOTE_WRITE_URL;
  if (!url) return { bpfStats };
  if (!/^https?:\/\/./.test(url)) throw operatorError("EOP_ERR_CONFIG", `--remote-write-url "${url}" is not an http(s) URL`);
  const interval = flags["remote-write-interval"] ?? env.EBPF_AGENT_REMOTE_WRITE_INTERVAL;
  const timeout = flags["remote-write-timeout"];
  const maxPending = flags["remote-write-max-pending-samples"];
  const labels = flags["remote-write-label"];
  return {
    bpfStats,
    remoteWrite: {
      url,
      ...(interval !== undefined && { intervalMs: parseDuration("--remote-write-interval", interval) }),
      ...(timeout !== undefined && { timeoutMs: parseDuration("--remote-write-timeout", timeout) }),
      ...(maxPending !== undefined && { maxPendingSamples: parsePositiveInteger("--remote-write-max-pending-samples", maxPending) }),
      ...(labels !== undefined && { labels: Object.fromEntries(labels.map((l) => parseLabel(l))) }),
    },
  };
}

/** `500ms`, `15s`, `2m`, `1h`; a bare number is seconds. */
export function parseDuration(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const ms = match ? Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"]! : NaN;
  if (!(ms >= 1)) throw operatorError("EOP_ERR_CONFIG", `${flag} "${text}" is not a duration such as 500ms, 15s or 1m`);
  return ms;
}

function parsePositiveInteger(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw operatorError("EOP_ERR_CONFIG", `${flag} "${text}" is not a positive integer`);
  return n;
}

function parseBoolean(flag: string, text: string): boolean {
  if (/^(true|on|1|yes)$/i.test(text)) return true;
  if (/^(false|off|0|no)$/i.test(text)) return false;
  throw operatorError("EOP_ERR_CONFIG", `${flag} "${text}" is not true or false`);
}

function parseLabel(text: string): [string, string] {
  const match = /^([a-zA-Z_][a-zA-Z0-9_]*)=(.*)$/.exec(text);
  if (!match || match[1]!.startsWith("__")) throw operatorError("EOP_ERR_CONFIG", `--remote-write-label "${text}" is not name=value with a valid label name`);
  return [match[1]!, match[2]!];
}
