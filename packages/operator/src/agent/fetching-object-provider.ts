/**
 * Cluster mode's object provider: the operator compiled the resource once and published the
 * object; the agent fetches it (checked against its SHA-256) into a local cache keyed by hash.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { operatorError, type DesiredResource, type EbpfMapStatus, type ObjectProvider, type ObjectRequest, type ProvidedObject } from "@ebpf-operator/core";
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
    const dir = join(this.cacheDir, "fetched");
    const path = join(dir, `${object.sha256}.o`);
    try {
      await readFile(path);
      return { objectPath: path, hash: object.hash, cached: true };
    } catch {
      // not cached yet
    }
    const bytes = await this.store.fetch(object.hash, object.sha256);
    await mkdir(dir, { recursive: true });
    // A temp name unique per call: the agent loads several resources at once, and two of them
    // (or two generations of one) may fetch the same object; a per-process name let the second
    // rename find its temp file already moved (ENOENT) and fail a good load.
    const temporary = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await writeFile(temporary, bytes);
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    return { objectPath: path, hash: object.hash, cached: false };
  }
}
