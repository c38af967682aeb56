/**
 * Where compiled objects are published for the agents: immutable ConfigMaps in the operator's
 * namespace, named by content hash (`ebpf-object-<hash>`), the object in `binaryData`.
 *
 * Why a ConfigMap: every agent can already reach the API server (no extra service, port or
 * credentials), RBAC scopes it (agents may only *get* ConfigMaps in the operator namespace;
 * tenants cannot write there, so no tenant can swap another's object), content addressing makes
 * it immutable and shared by equal code, and BPF objects are far below the 1 MiB limit (a larger
 * one is refused with a clear condition). Unreferenced objects are garbage-collected.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { operatorError } from "@ebpf-operator/core";
import { isConflict } from "../kube/api-errors.js";
import { MAX_OBJECT_BYTES } from "./limits.js";
import { OBJECT_HASH_LABEL } from "./types.js";

export { MAX_OBJECT_BYTES };
const OBJECT_KEY = "object.o";
/** How long a published object is trusted to still exist without asking the API server. */
const RECENTLY_PUBLISHED_MS = 5 * 60_000;

export function objectConfigMapName(hash: string): string {
  return `ebpf-object-${hash.slice(0, 40)}`;
}

export class ObjectStore {
  private readonly core: CoreV1Api;
  /** ConfigMap name → when this process last published (or found) it. */
  private readonly recentlyPublished = new Map<string, number>();

  constructor(
    kubeConfig: KubeConfig,
    readonly namespace: string,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  /**
   * Publishes an object file; a ConfigMap that already exists for the hash is left as it is.
   * Returns its name and the SHA-256 of the bytes, which agents check what they fetch against.
   */
  async publish(hash: string, objectPath: string): Promise<{ name: string; sha256: string }> {
    return this.publishBytes(hash, await readFile(objectPath));
  }

  /** Like publish(), for an object already in memory (as the compile server returns it). */
  async publishBytes(hash: string, bytes: Buffer): Promise<{ name: string; sha256: string }> {
    if (bytes.length > MAX_OBJECT_BYTES) {
      throw operatorError(
        "EOP_ERR_OBJECT_TOO_LARGE",
        `the compiled object is ${bytes.length} bytes; objects are published in ConfigMaps, which hold at most ${MAX_OBJECT_BYTES}`,
      );
    }
    const name = objectConfigMapName(hash);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    // Many EbpfMaps often share one program: skip the create (and its 409) for an object this
    // operator published a moment ago. Only for a while, so an object deleted behind its back
    // is published again by the next generation that needs it.
    const publishedAt = this.recentlyPublished.get(name);
    if (publishedAt !== undefined && Date.now() - publishedAt < RECENTLY_PUBLISHED_MS) return { name, sha256 };
    try {
      await this.core.createNamespacedConfigMap({
        namespace: this.namespace,
        body: {
          metadata: { name, namespace: this.namespace, labels: { [OBJECT_HASH_LABEL]: hash.slice(0, 63), "app.kubernetes.io/managed-by": "ebpf-operator" } },
          immutable: true,
          binaryData: { [OBJECT_KEY]: bytes.toString("base64") },
        },
      });
    } catch (error) {
      if (!isConflict(error)) throw error; // 409 AlreadyExists: the same content is there
    }
    if (this.recentlyPublished.size >= 10_000) this.recentlyPublished.clear();
    this.recentlyPublished.set(name, Date.now());
    return { name, sha256 };
  }

  /** Fetches an object's bytes (agents in cluster mode), checked against its SHA-256. */
  async fetch(hash: string, sha256: string): Promise<Buffer> {
    const name = objectConfigMapName(hash);
    const configMap = await this.core.readNamespacedConfigMap({ name, namespace: this.namespace });
    const data = configMap.binaryData?.[OBJECT_KEY];
    if (!data) throw operatorError("EOP_ERR_OBJECT_FETCH", `ConfigMap ${this.namespace}/${name} has no ${OBJECT_KEY}`);
    const bytes = Buffer.from(data, "base64");
    const actual = createHash("sha256").update(bytes).digest("hex");
    if (actual !== sha256)
      throw operatorError(
        "EOP_ERR_OBJECT_FETCH",
        `object ${this.namespace}/${name} has SHA-256 ${actual}, but the EbpfMap's status says ${sha256}: refusing to load it`,
      );
    return bytes;
  }

  /** Deletes published objects no EbpfMap refers to any more and older than `minAgeMs`. */
  async collectGarbage(referenced: Set<string>, minAgeMs = 10 * 60_000): Promise<string[]> {
    const list = await this.core.listNamespacedConfigMap({ namespace: this.namespace, labelSelector: OBJECT_HASH_LABEL });
    const deleted: string[] = [];
    for (const configMap of list.items) {
      const name = configMap.metadata?.name;
      const created = configMap.metadata?.creationTimestamp ? new Date(configMap.metadata.creationTimestamp).getTime() : 0;
      if (!name || [...referenced].some((hash) => objectConfigMapName(hash) === name) || Date.now() - created < minAgeMs) continue;
      this.recentlyPublished.delete(name);
      await this.core.deleteNamespacedConfigMap({ name, namespace: this.namespace }).catch(() => undefined);
      deleted.push(name);
    }
    return deleted;
  }
}
