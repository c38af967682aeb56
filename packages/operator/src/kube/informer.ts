/**
 * A list-then-watch cache of one resource type that survives what client-node 1.4's `Watch`
 * leaves to the caller: connection drops and API-server restarts (re-watch from the last
 * resourceVersion with exponential backoff), `410 Gone` (relist, then emit the difference as
 * add/update/delete), and a periodic resync (every cached object emitted again, so a missed
 * event cannot leave the controller wrong for long).
 */
import { KubernetesObjectApi, Watch, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "@ebpf-operator/core";
import { apiMessage, isGone } from "./api-errors.js";

export type InformerEvent = "add" | "update" | "delete" | "resync";
export type InformerHandler<T> = (event: InformerEvent, object: T) => void;

export interface InformerOptions {
  kubeConfig: KubeConfig;
  apiVersion: string;
  kind: string;
  /** REST collection path to watch, e.g. /apis/observability.cloud/v1/ebpfmaps. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  resyncMs?: number;
  logger: Logger;
}

export function objectKey(object: KubernetesObject): string {
  const { namespace, name } = object.metadata ?? {};
  return namespace ? `${namespace}/${name}` : `${name}`;
}

export class Informer<T extends KubernetesObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly objects: KubernetesObjectApi;
  private resourceVersion = "";
  private abort?: AbortController;
  private stopped = false;
  private failures = 0;
  private resyncTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private synced = false;
  /** Counts for observability and tests: lists after 410 Gone or a lost resourceVersion, watch restarts. */
  readonly stats = { relists: 0, watches: 0 };

  constructor(private readonly options: InformerOptions) {
    this.objects = KubernetesObjectApi.makeApiClient(options.kubeConfig);
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /** Lists (retrying until it works) and starts watching; resolves after the first list. */
  async start(): Promise<void> {
    for (;;) {
      try {
        await this.relist();
        break;
      } catch (error) {
        if (this.stopped) return;
        await this.sleep(this.backoff(), "initial list", error);
      }
    }
    this.synced = true;
    void this.watch();
    const resyncMs = this.options.resyncMs ?? 5 * 60_000;
    this.resyncTimer = setInterval(() => {
      for (const object of this.cache.values()) this.emit("resync", object);
    }, resyncMs);
    this.resyncTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    clearTimeout(this.retryTimer);
    this.abort?.abort();
  }

  private async relist(): Promise<void> {
    const list = await this.objects.list<T>(
      this.options.apiVersion,
      this.options.kind,
      undefined,
      undefined,
      undefined,
      undefined,
      this.options.fieldSelector,
      this.options.labelSelector,
    );
    const seen = new Set<string>();
    for (const item of list.items) {
      // Lists omit apiVersion/kind on items: put them back for handlers.
      const object = { ...item, apiVersion: this.options.apiVersion, kind: this.options.kind } as T;
      const key = objectKey(object);
      seen.add(key);
      const previous = this.cache.get(key);
      this.cache.set(key, object);
      if (!previous) this.emit("add", object);
      else if (previous.metadata?.resourceVersion !== object.metadata?.resourceVersion) this.emit("update", object);
    }
    for (const [key, object] of this.cache) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit("delete", object);
      }
    }
    this.resourceVersion = list.metadata?.resourceVersion ?? "";
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    this.stats.watches++;
    const watcher = new Watch(this.options.kubeConfig);
    let gone = false;
    const done = (error: unknown) => {
      if (this.stopped) return;
      // 410 arrives as an ERROR event on an open watch, or as the status of the watch request.
      void this.reconnect(gone || isGone(error) || /\b410\b/.test(String(error)), error);
    };
    try {
      this.abort = await watcher.watch(
        this.options.path,
        {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          labelSelector: this.options.labelSelector,
          fieldSelector: this.options.fieldSelector,
        },
        (phase: string, object: T & { code?: number }) => {
          this.failures = 0;
          if (phase === "ERROR") {
            gone = object.code === 410;
            return;
          }
          const rv = object.metadata?.resourceVersion;
          if (rv) this.resourceVersion = rv;
          if (phase === "BOOKMARK") return;
          const key = objectKey(object);
          if (phase === "DELETED") {
            this.cache.delete(key);
            this.emit("delete", object);
          } else {
            const existed = this.cache.has(key);
            this.cache.set(key, object);
            this.emit(existed ? "update" : "add", object);
          }
        },
        done,
      );
    } catch (error) {
      done(error);
    }
  }

  private async reconnect(gone: boolean, error: unknown): Promise<void> {
    if (error && !gone) await this.sleep(this.backoff(), "watch", error);
    if (this.stopped) return;
    if (gone || !this.resourceVersion) {
      // Our resourceVersion is too old: list again and emit what changed meanwhile.
      this.stats.relists++;
      for (;;) {
        try {
          await this.relist();
          break;
        } catch (listError) {
          if (this.stopped) return;
          await this.sleep(this.backoff(), "relist", listError);
        }
      }
    }
    void this.watch();
  }

  private backoff(): number {
    this.failures++;
    return Math.min(250 * 2 ** (this.failures - 1), 30_000);
  }

  private sleep(ms: number, what: string, error: unknown): Promise<void> {
    this.options.logger.warn({ kind: this.options.kind, retryInMs: ms, error: apiMessage(error) }, `${what} failed; retrying`);
    return new Promise((resolve) => {
      this.retryTimer = setTimeout(resolve, ms);
    });
  }

  private emit(event: InformerEvent, object: T): void {
    for (const handler of this.handlers) {
      try {
        handler(event, object);
      } catch (error) {
        this.options.logger.error({ kind: this.options.kind, error: String(error) }, "informer handler threw");
      }
    }
  }
}
