/**
 * Where the agent gets a resource's compiled object. Standalone, it compiles the code itself;
 * in a cluster the operator has compiled it once and the agent fetches the published object
 * (see @ebpf-operator/operator). The agent's reconcile is the same either way.
 */
import type { DesiredResource, ResourceRef } from "../api/manifest.js";
import type { BpfCompiler } from "../compiler/index.js";

export interface ObjectRequest {
  ref: ResourceRef;
  resource: DesiredResource;
  /** `namespace/name`, for messages. */
  label: string;
}

export interface ProvidedObject {
  objectPath: string;
  /** Content hash of the object: part of the pin generation's load key. */
  hash: string;
  /** Served from a local cache. */
  cached: boolean;
}

export interface ObjectProvider {
  /** The step's name in status messages ("compile", "fetch"). */
  readonly step: string;
  obtain(request: ObjectRequest): Promise<ProvidedObject>;
}

export class CompilingObjectProvider implements ObjectProvider {
  readonly step = "compile";
  constructor(private readonly compiler: BpfCompiler) {}

  async obtain(request: ObjectRequest): Promise<ProvidedObject> {
    const compiled = await this.compiler.compile({ source: request.resource.spec.code, label: request.label });
    return { objectPath: compiled.objectPath, hash: compiled.hash, cached: compiled.cached };
  }
}
