/**
 * A list-then-watch cache of one resource type that survives what client-node 1.4's `Watch`
 * leaves to the caller: connection drops and API-server restarts (re-watch from the last
 * resourceVersion with exponential backoff), `410 Gone` (relist, then emit the difference as
 * add/update/delete), and a periodic resync (every cached object emitted again, so a missed
 * event cannot leave the controller wrong for long).
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type Agent } from "node:https";
import { KubernetesObjectApi, Watch, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "@ebpf-operator/core";
import { apiMessage, isGone } from "./api-errors.js";

export type InformerEvent = "add" | "update" | "delete" | "resync";
export type InformerHandler<T> = (event: InformerEvent, object: T) => void;

export interface InformerOptions<T = KubernetesObject> {
  kubeConfig: KubeConfig;
  apiVersion: string;
  kind: string;
  /** REST collection path to watch, e.g. /apis/observability.cloud/v1/ebpfmaps. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  resyncMs?: number;
  /**
   * Ask for metadata only (`PartialObjectMetadata`: names, UID, labels, annotations, owner
   * references, deletion timestamp; no spec or status): what a node agent can afford to cache
   * for every pod of its node. Objects keep `apiVersion` and `kind` as given here.
   */
  metadataOnly?: boolean;
  /**
   * Applied to every object before it is cached or handed to handlers (client-go's
   * TransformFunc): drop what is never read (annotations, managedFields) to bound memory.
   * It must keep `metadata.namespace`, `name` and `resourceVersion`.
   */
  transform?: (object: T) => T;
  logger: Logger;
}

const METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
const METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

type HeaderSource = Awaited<ReturnType<KubeConfig["applyToFetchOptions"]>>["headers"];

/** Header names (lower case) and values of whatever `applyToFetchOptions` returned. */
function plainHeaders(headers: HeaderSource): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  const pairs: Iterable<[string, string | string[]]> =
    typeof (headers as { entries?: unknown }).entries === "function"
      ? (headers as unknown as { entries(): Iterable<[string, string]> }).entries()
      : Array.isArray(headers)
        ? (headers as [string, string][])
        : Object.entries(headers as Record<string, string | string[]>);
  for (const [name, value] of pairs) out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  return out;
}

/**
 * The same kube config, with `Accept` asking for metadata only on the requests `Watch` makes
 * (client-node's Watch takes no headers; it reads its request options from the config).
 */
function metadataConfig(kubeConfig: KubeConfig): KubeConfig {
  const config = Object.create(kubeConfig) as KubeConfig;
  config.applyToFetchOptions = async (options) => {
    const init = await kubeConfig.applyToFetchOptions(options);
    init.headers = { ...plainHeaders(init.headers), accept: METADATA };
    return init;
  };
  return config;
}

/** One GET of a collection as `PartialObjectMetadataList`, with the config's TLS and credentials. */
async function listMetadata<T>(
  kubeConfig: KubeConfig,
  path: string,
  query: Record<string, string | undefined>,
): Promise<{ items: T[]; metadata?: { resourceVersion?: string } }> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error("No currently active cluster");
  const url = new URL(cluster.server + path);
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, value);
  const init = await kubeConfig.applyToFetchOptions({});
  const headers = { ...plainHeaders(init.headers), accept: METADATA_LIST };
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", headers, agent: init.agent as Agent | undefined }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (response.statusCode !== 200) {
          const error = new Error(`list ${path}: HTTP ${response.statusCode}: ${text.slice(0, 300)}`) as Error & { statusCode?: number; code?: number };
          error.statusCode = error.code = response.statusCode;
          reject(error);
          return;
        }
        try {
          resolve(JSON.parse(text) as { items: T[]; metadata?: { resourceVersion?: string } });
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
      response.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

export function objectKey(object: KubernetesObject): string {
  const { namespace, name } = object.metadata ?? {};
  return namespace ? `${namespace}/${name}` : `${name}`;
}

export class Informer<T extends KubernetesObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly objects: KubernetesObjectApi;
  private readonly options: InformerOptions<T>;
  private resourceVersion = "";
  private abort?: AbortController;
  private stopped = false;
  private failures = 0;
  private resyncTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private synced = false;
  /** Counts for observability and tests: lists after 410 Gone or a lost resourceVersion, watch restarts. */
  readonly stats = { relists: 0, watches: 0 };

  constructor(options: InformerOptions<T>) {
    this.options = options;
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
    const list = this.options.metadataOnly
      ? await listMetadata<T>(this.options.kubeConfig, this.options.path, {
          fieldSelector: this.options.fieldSelector,
          labelSelector: this.options.labelSelector,
        })
      : await this.objects.list<T>(
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
      const object = this.shape({ ...item, apiVersion: this.options.apiVersion, kind: this.options.kind } as T);
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
    const watcher = new Watch(this.options.metadataOnly ? metadataConfig(this.options.kubeConfig) : this.options.kubeConfig);
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
            this.emit("delete", this.shape(object));
          } else {
            const existed = this.cache.has(key);
            const shaped = this.shape(object);
            this.cache.set(key, shaped);
            this.emit(existed ? "update" : "add", shaped);
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

  /** Metadata-only objects say PartialObjectMetadata: given the informer's kind; then the transform. */
  private shape(object: T): T {
    const typed = this.options.metadataOnly ? ({ ...object, apiVersion: this.options.apiVersion, kind: this.options.kind } as T) : object;
    return this.options.transform ? this.options.transform(typed) : typed;
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
