/**
 * Prometheus remote-write from the agent: every `intervalMs` the registry is gathered (the same
 * samples `/metrics` serves), encoded into batches and queued; a single sender delivers the queue
 * in order. Failures that may pass (network errors, timeouts, 429, 5xx) are retried with
 * exponential backoff and jitter; other 4xx answers drop the batch (retrying cannot fix it). The
 * queue is bounded in samples and drops its oldest batches when full, counting them, so an
 * unreachable receiver costs bounded memory and never slows down scraping.
 */
import { describeError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { RemoteWriteMetrics, RequestResult } from "./remote-write-metrics.js";
import { SendQueue } from "./send-queue.js";
import { REMOTE_WRITE_HEADERS, encodeWriteRequest, type TimeSeries } from "./write-request.js";

export interface RemoteWriteSettings {
  /** The receiver, e.g. http://prometheus:9090/api/v1/write. */
  url: string;
  /** Gather-and-send period (default 15 s, Prometheus' usual scrape interval). */
  intervalMs?: number;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  /** Queue bound in samples (default 50 000: minutes of a typical node's series). */
  maxPendingSamples?: number;
  /** Samples per request (default 2 000, Prometheus' own max_samples_per_send). */
  maxSamplesPerRequest?: number;
  /** Backoff bounds (default 500 ms doubling up to 30 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Added to every series unless it has the label (default job="ebpf-agent", instance=<hostname>). */
  labels?: Record<string, string>;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
}

export const REMOTE_WRITE_DEFAULTS = {
  intervalMs: 15_000,
  timeoutMs: 10_000,
  maxPendingSamples: 50_000,
  maxSamplesPerRequest: 2_000,
  minBackoffMs: 500,
  maxBackoffMs: 30_000,
} as const;

type Outcome = { result: RequestResult; detail?: string };

export class RemoteWriter {
  private readonly settings: Required<Omit<RemoteWriteSettings, "labels" | "headers">> & Pick<RemoteWriteSettings, "headers">;
  private readonly queue: SendQueue;
  private readonly stopController = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private gathering = false;
  private sending: Promise<void> | undefined;
  private failing = false;

  constructor(
    settings: RemoteWriteSettings,
    private readonly gather: () => Promise<TimeSeries[]>,
    private readonly metrics: RemoteWriteMetrics,
    private readonly logger: Logger,
  ) {
    this.settings = { ...REMOTE_WRITE_DEFAULTS, ...settings };
    this.queue = new SendQueue(this.settings.maxPendingSamples);
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.settings.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  /** Stops gathering and sending; what is still queued is dropped (and counted). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopController.abort();
    await this.sending;
    this.metrics.droppedSamples.inc({ reason: "shutdown" }, this.queue.clear());
    this.metrics.pendingSamples.set(0);
  }

  /** One gather into the queue, then wake the sender. Skipped while the previous gather runs. */
  async tick(): Promise<void> {
    if (this.gathering || this.stopController.signal.aborted) return;
    this.gathering = true;
    try {
      const series = await this.gather();
      const size = this.settings.maxSamplesPerRequest;
      for (let i = 0; i < series.length; i += size) {
        const chunk = series.slice(i, i + size);
        const samples = chunk.reduce((n, s) => n + s.samples.length, 0);
        const dropped = this.queue.push({ body: encodeWriteRequest(chunk), samples });
        if (dropped > 0) this.metrics.droppedSamples.inc({ reason: "queue_full" }, dropped);
      }
      this.metrics.pendingSamples.set(this.queue.pendingSamples);
    } catch (error) {
      this.logger.error({ error: describeError(error) }, "remote-write: gathering samples failed");
    } finally {
      this.gathering = false;
    }
    this.sending ??= this.drain().finally(() => (this.sending = undefined));
  }

  /** Sends queued batches oldest first until the queue is empty or the writer stops. */
  private async drain(): Promise<void> {
    let backoff = this.settings.minBackoffMs;
    const signal = this.stopController.signal;
    for (let batch = this.queue.take(); batch && !signal.aborted; batch = this.queue.take()) {
      const outcome = await this.post(batch.body);
      this.metrics.requests.inc({ result: outcome.result });
      if (outcome.result === "retry") {
        if (!this.failing) this.logger.warn({ url: this.settings.url, error: outcome.detail }, "remote-write failing; retrying with backoff");
        this.failing = true;
        // Not in flight while we wait: a full queue may drop it like any other old batch.
        this.queue.release(batch);
        await sleep(backoff * (0.5 + Math.random() / 2), signal);
        backoff = Math.min(backoff * 2, this.settings.maxBackoffMs);
        continue;
      }
      this.queue.done(batch);
      backoff = this.settings.minBackoffMs;
      if (outcome.result === "success") {
        this.metrics.sentSamples.inc(batch.samples);
        this.metrics.lastSuccess.set(Date.now() / 1000);
        if (this.failing) this.logger.info({ url: this.settings.url }, "remote-write recovered");
        this.failing = false;
      } else {
        this.metrics.droppedSamples.inc({ reason: "rejected" }, batch.samples);
        this.logger.warn({ url: this.settings.url, error: outcome.detail }, "remote-write batch rejected; dropped");
      }
      this.metrics.pendingSamples.set(this.queue.pendingSamples);
    }
    this.metrics.pendingSamples.set(this.queue.pendingSamples);
  }

  /**
   * One POST with its own timeout. Why not `AbortSignal.any([stop, AbortSignal.timeout(ms)])`: on
   * Node 20 nothing holds those signals strongly (the timeout's timer and the composite's sources
   * are weak references), so a garbage collection during the request can leave it with no timeout
   * at all: a hung receiver then stalls the sender forever. Here the timer closes over the
   * controller, which keeps it (and the signal fetch follows) alive until the timer is cleared.
   */
  private async post(body: Buffer): Promise<Outcome> {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new DOMException(`no answer within ${this.settings.timeoutMs} ms`, "TimeoutError")),
      this.settings.timeoutMs,
    );
    const onStop = () => controller.abort(this.stopController.signal.reason);
    this.stopController.signal.addEventListener("abort", onStop, { once: true });
    try {
      const headers = { ...REMOTE_WRITE_HEADERS, ...this.settings.headers };
      const response = await fetch(this.settings.url, { method: "POST", body, headers, signal: controller.signal });
      const text = response.ok ? "" : (await response.text()).slice(0, 500);
      if (response.ok) return { result: "success" };
      const detail = `HTTP ${response.status}: ${text.trim()}`;
      // The spec: 5xx and 429 may be retried, other 4xx must not be.
      return response.status >= 500 || response.status === 429 ? { result: "retry", detail } : { result: "rejected", detail };
    } catch (error) {
      return { result: "retry", detail: describeError(error) };
    } finally {
      clearTimeout(timer);
      this.stopController.signal.removeEventListener("abort", onStop);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
