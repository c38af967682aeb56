/**
 * The agent's remote-write metrics. Registered whether or not remote-write is configured, every
 * series initialised to 0, so dashboards and alerts see zeros rather than "no data".
 */
import { Counter, Gauge, type Registry } from "prom-client";

export type DropReason = "queue_full" | "rejected" | "shutdown";
export type RequestResult = "success" | "retry" | "rejected";

export interface RemoteWriteMetrics {
  sentSamples: Counter;
  droppedSamples: Counter<"reason">;
  requests: Counter<"result">;
  pendingSamples: Gauge;
  lastSuccess: Gauge;
}

export function createRemoteWriteMetrics(registry: Registry): RemoteWriteMetrics {
  const registers = [registry];
  const metrics: RemoteWriteMetrics = {
    sentSamples: new Counter({
      name: "ebpf_operator_agent_remote_write_sent_samples_total",
      help: "Samples delivered by remote-write (2xx answers).",
      registers,
    }),
    droppedSamples: new Counter({
      name: "ebpf_operator_agent_remote_write_dropped_samples_total",
      help: "Samples given up on: queue_full (the bounded queue dropped its oldest), rejected (a 4xx answer other than 429), shutdown (pending at stop).",
      labelNames: ["reason"],
      registers,
    }),
    requests: new Counter({
      name: "ebpf_operator_agent_remote_write_requests_total",
      help: "Remote-write requests by result: success, retry (network error, timeout, 429 or 5xx; retried with backoff), rejected.",
      labelNames: ["result"],
      registers,
    }),
    pendingSamples: new Gauge({ name: "ebpf_operator_agent_remote_write_pending_samples", help: "Samples waiting in the remote-write queue.", registers }),
    lastSuccess: new Gauge({
      name: "ebpf_operator_agent_remote_write_last_success_timestamp_seconds",
      help: "Unix time of the last delivered remote-write request (0: never).",
      registers,
    }),
  };
  for (const reason of ["queue_full", "rejected", "shutdown"] satisfies DropReason[]) metrics.droppedSamples.inc({ reason }, 0);
  for (const result of ["success", "retry", "rejected"] satisfies RequestResult[]) metrics.requests.inc({ result }, 0);
  return metrics;
}
