/**
 * Cluster mode's object provider: the operator compiled the resource once and published the
 * object; the agent fetches it (checked against its SHA-256) into a local cache keyed by hash.
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import {
  operatorError,
  writeFileAtomic,
  type DesiredResource,
  type EbpfMapStatus,
  type ObjectProvider,
  type ObjectRequest,
  type ProvidedObject,
} from "@ebpf-operator/core";
import type { ObjectStore } from "../shared/object-store.js";

type PublishedObject = NonNullable<EbpfMapStatus["object"]>;

/** The object the operator published for this generation, as its status names it. */
function publishedObject(resource: DesiredResource): PublishedObject | undefined {
  const object = (resource.status as EbpfMapStatus | undefined)?.object;
  return typeof object?.hash === "string" && typeof object.sha256 === "string" ? object : undefined;
}

export class FetchingObjectProvider implements ObjectProvider {
  readonly step = "fetch";

  constructor(
    private readonly store: ObjectStore,
    private readonly cacheDir: string,
  ) {}

  async obtain(request: ObjectRequest): Promise<ProvidedObject> {
    const object = publishedObject(request.resource);
    if (!object) throw operatorError("EOP_ERR_OBJECT_FETCH", `EbpfMap "${request.label}" has no compiled object yet`);
    const path = join(this.cacheDir, "fetched", `${object.sha256}.o`);
    try {
      await access(path);
      return { objectPath: path, hash: object.hash, cached: true };
    } catch {
      // not cached yet
    }
    const bytes = await this.store.fetch(object.hash, object.sha256);
    // A temp name unique per write (writeFileAtomic): several loads may fetch the same object at
    // once, and a shared temp name let the second rename fail a good load (ENOENT).
    await writeFileAtomic(path, bytes);
    return { objectPath: path, hash: object.hash, cached: false };
  }
}
