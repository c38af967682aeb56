/**
 * The compile server's wire format: JSON over HTTP/1.1 on a Unix socket that only the operator's
 * pod can reach (an emptyDir shared by the operator and compiler containers).
 *
 *   POST /v1/compile  { source, label, tenant }
 *     200 { hash, cached, diagnostics, durationMs, queueWaitMs, clangRunsMs?, object: <base64> }
 *     422 { error: { code, message, diagnostics } }     a CompileError (the program's fault)
 *     500 { error: { message } }                         anything else (retried)
 *   GET  /v1/info       200 ToolchainInfo
 *   GET  /v1/metrics    200 MetricsResponse: the ebpf_operator_compile_* and process families
 *                       (prom-client's JSON), served by the operator on its authenticated
 *                       /metrics; the compile server has no metrics port of its own
 */
import type { ClangRunsMs, CompileErrorCode, Diagnostic, PromClientMetric } from "@ebpf-operator/core";

export const COMPILE_PATH = "/v1/compile";
export const INFO_PATH = "/v1/info";
export const METRICS_PATH = "/v1/metrics";
/** A request body: the source (at most 1,000,000 characters in the CRD), JSON-escaped. */
export const MAX_REQUEST_BYTES = 8 * 1024 * 1024;

export interface CompileResponse {
  hash: string;
  cached: boolean;
  diagnostics: Diagnostic[];
  durationMs: number;
  queueWaitMs: number;
  /** Wall ms of the clang runs (absent on a cache hit). */
  clangRunsMs?: ClangRunsMs;
  object: string;
}

export interface ErrorResponse {
  error: { code?: CompileErrorCode; message: string; diagnostics?: Diagnostic[] };
}

/** One family as prom-client's `getMetricsAsJSON()` gives it. */
export type MetricJson = Omit<PromClientMetric, "get"> & { values: Awaited<ReturnType<PromClientMetric["get"]>>["values"] };

export type MetricsResponse = MetricJson[];
