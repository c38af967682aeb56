/**
 * Cluster mode's object provider: the operator compiled the resource once and published the
 * object; the agent fetches it (checked against its SHA-256) into a local cache keyed by hash.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ObjectProvider, ObjectRequest, ProvidedObject } from "@ebpf-operator/core";
import type { ObjectStore } from "../shared/object-store.js";
import type { EbpfMapObject } from "../shared/types.js";

export class FetchingObjectProvider implements ObjectProvider {
  readonly step = "fetch";

  constructor(
    private readonly store: ObjectStore,
    private readonly cacheDir: string,
  ) {}

  async obtain(request: ObjectRequest): Promise<ProvidedObject> {
    const object = (request.resource as unknown as EbpfMapObject).status?.object;
    if (!object) throw new Error(`EbpfMap "${request.label}" has no compiled object yet`);
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
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, bytes);
    await rename(temporary, path);
    return { objectPath: path, hash: object.hash, cached: false };
  }
}
