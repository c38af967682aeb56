/**
 * The operator's side of the compile server (compile-server.ts): one HTTP request per compile
 * over the Unix socket. A CompileError comes back as one (terminal for the resource); a server
 * that is down or restarting is an ordinary error, so the reconcile is retried with backoff.
 */
import { request } from "node:http";
import { CompileError, ERROR_CODES, type CompileErrorCode, type ToolchainInfo } from "@ebpf-operator/core";
import type { CompiledObject, ObjectCompileRequest, ObjectCompiler } from "./object-compiler.js";
import { COMPILE_PATH, INFO_PATH, METRICS_PATH, type CompileResponse, type ErrorResponse, type MetricsResponse } from "./protocol.js";

/** A code from the registry's compile area: anything else from the server is not the program's fault. */
function isCompileErrorCode(code: string | undefined): code is CompileErrorCode {
  return code !== undefined && code.startsWith("EOP_ERR_COMPILE_") && Object.hasOwn(ERROR_CODES, code);
}

/** Largest response accepted: an object (base64) plus diagnostics. */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export class RemoteObjectCompiler implements ObjectCompiler {
  constructor(
    readonly socketPath: string,
    /** A compile can wait in the server's queue behind others; this bounds the whole request. */
    private readonly timeoutMs = 15 * 60_000,
  ) {}

  async compile(req: ObjectCompileRequest): Promise<CompiledObject> {
    const { status, body } = await this.#call("POST", COMPILE_PATH, JSON.stringify(req));
    if (status === 200) {
      const ok = body as CompileResponse;
      return {
        hash: ok.hash,
        cached: ok.cached,
        diagnostics: ok.diagnostics,
        durationMs: ok.durationMs,
        queueWaitMs: ok.queueWaitMs,
        ...(ok.clangRunsMs ? { clangRunsMs: ok.clangRunsMs } : {}),
        object: Buffer.from(ok.object, "base64"),
      };
    }
    const error = (body as ErrorResponse).error ?? { message: `status ${status}` };
    if (status === 422 && isCompileErrorCode(error.code)) {
      throw new CompileError(error.code, error.message, { diagnostics: error.diagnostics ?? [] });
    }
    throw new Error(`the compile server at ${this.socketPath} failed (${status}): ${error.message}`);
  }

  async info(): Promise<ToolchainInfo> {
    const { status, body } = await this.#call("GET", INFO_PATH);
    if (status !== 200) throw new Error(`the compile server at ${this.socketPath} failed (${status}): ${(body as ErrorResponse).error?.message ?? ""}`);
    return body as ToolchainInfo;
  }

  /**
   * The compile server's metric families, for the operator's /metrics. Bounded by `timeoutMs`
   * (a scrape must not wait for the compile timeout); the server answers these between compiles'
   * events, its compiles run in child processes.
   */
  async metrics(timeoutMs = 5_000): Promise<MetricsResponse> {
    const { status, body } = await this.#call("GET", METRICS_PATH, undefined, timeoutMs);
    if (status !== 200 || !Array.isArray(body))
      throw new Error(
        `the compile server at ${this.socketPath} failed (${status}): ${(body as ErrorResponse).error?.message ?? "not a list of metric families"}`,
      );
    return body as MetricsResponse;
  }

  #call(method: string, path: string, payload?: string, timeoutMs = this.timeoutMs): Promise<{ status: number; body: unknown }> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          path,
          method,
          headers: payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) req.destroy(new Error(`the compile server's response exceeds ${MAX_RESPONSE_BYTES} bytes`));
            else chunks.push(chunk);
          });
          res.on("end", () => {
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown });
            } catch (error) {
              reject(new Error(`the compile server at ${this.socketPath} sent an unreadable response (${res.statusCode}): ${String(error)}`));
            }
          });
          res.on("error", reject);
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer from the compile server at ${this.socketPath} within ${timeoutMs} ms`)));
      req.on("error", (error) => reject(new Error(`the compile server at ${this.socketPath} is not reachable: ${error.message}`, { cause: error })));
      req.end(payload);
    });
  }
}
