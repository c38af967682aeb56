/**
 * Turns a compiled object into running, pinned kernel state for one resource, and back:
 *
 *   plugin lookup -> target check -> kernel support -> open -> prepare -> load -> attach -> pin
 *
 * Loading is all-or-nothing: on any failure everything already created is closed and unpinned,
 * and the error names the step and carries the real cause (verifier log tail, errno text).
 * A complete pinned generation for the same resource and code is adopted instead of loaded, so
 * a restarted agent neither resets counters nor attaches twice.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, rm, rmdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { BpfLink, BpfLoadError, BpfMap, BpfObject, BpfProgram, LibbpfError, possibleCpus } from "@ebpf-operator/libbpf";
import type { ResourceRef } from "../api/manifest.js";
import type { EbpfMapSpec } from "../api/schema.js";
import { operatorError, withCode } from "../errors.js";
import { ObjectFormatError, inspectObject, type ObjectReport } from "../inspect/inspect-object.js";
import type { Logger } from "../logger.js";
import type { PluginRegistry } from "../plugin/plugin-registry.js";
import { PluginTargetError, type Attachment, type PluginHost, type ProgramTypePlugin } from "../plugin/sdk.js";
import { PROGRAM_PIN, assertContained, generationPinDir, linkPinName, listPinnedGenerations, mapPinName, type PinnedGeneration } from "./pin-layout.js";
import {
  ObjectRefusedError,
  capabilitiesToDrop,
  checkObject,
  enforcementKey,
  objectMapBytes,
  observeRewrite,
  verdictModeOf,
  type LoadEnforcement,
} from "./enforcement.js";
import { formatVerifierRejection, scrubKernelAddresses } from "./verifier-report.js";

export interface LoadRequest {
  ref: ResourceRef;
  spec: EbpfMapSpec;
  object: { path: string; hash: string };
  logger: Logger;
  /** Maps the resource's metrics read; each must exist in the object (default: `spec.map`). */
  requiredMaps?: readonly string[];
  /**
   * Checks the loaded maps before anything is attached: the caller plans its metrics there
   * (every metric's map exists, its types fit), once per load.
   */
  checkMaps?: (maps: ReadonlyMap<string, BpfMap>) => void;
  /** What a tenancy policy enforces for this resource (rules, verdict mode, privileges); see enforcement.ts. */
  enforcement?: LoadEnforcement;
  /**
   * Map memory the namespace's other resources hold on this node (their `mapBytes`), checked
   * with this object's against `enforcement.namespaceMapBytes`. The agent supplies it.
   */
  namespaceMapBytesInUse?: number;
}

export interface LoadedProgram {
  ref: ResourceRef;
  loadKey: string;
  dir: string;
  /** True when the program was found pinned and adopted rather than loaded. */
  adopted: boolean;
  program: BpfProgram;
  maps: Map<string, BpfMap>;
  attachments: Attachment[];
  /** The memory estimate of the object's maps on this node (what a namespace budget counts). */
  mapBytes: number;
}

const VERIFIER_TAIL_LINES = 20;

/**
 * What the kernel sees of a resource: equal keys mean an adoptable pinned generation. The
 * enforcement's verdict mode and privileges change the loaded program, so they are part of it.
 */
export function loadKeyOf(spec: Pick<EbpfMapSpec, "type" | "target" | "program">, objectHash: string, enforcement?: LoadEnforcement): string {
  const parts: unknown[] = [objectHash, spec.type, spec.target, spec.program];
  // Without enforcement options the key is what it always was: pinned generations stay adoptable.
  if (enforcement !== undefined && (verdictModeOf(enforcement) !== "enforce" || enforcement.tracingPrivileges)) parts.push(enforcementKey(enforcement));
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 16);
}

export class ProgramLoader {
  constructor(
    private readonly pinRoot: string,
    private readonly registry: PluginRegistry,
    private readonly host: PluginHost,
  ) {}

  /**
   * Checks what can be checked without the compiled object: a plugin handles the type, the
   * target is valid and exists, the kernel supports the type. Returns the plugin and target.
   */
  async preflight(spec: EbpfMapSpec): Promise<{ plugin: ProgramTypePlugin; target: unknown }> {
    const { plugin, validateTarget } = this.registry.forType(spec.type);
    if (spec.selector !== undefined) {
      // Pod scope is discovered (pods/) but not yet attached per pod: running the program
      // node-wide instead would give the tenant more than it asked for (and than the policy's
      // "own workloads" scope allows), so the resource is refused.
      throw operatorError(
        "EOP_ERR_POD_SCOPE_UNSUPPORTED",
        `spec.selector: this agent cannot yet confine program type "${spec.type}" to pods, and does not run a pod-scoped resource node-wide; remove the selector to run it node-wide (where the tenancy policy allows)`,
      );
    }
    if (!validateTarget(spec.target)) {
      const reasons = (validateTarget.errors ?? []).map((e) => e.message ?? e.keyword).join("; ");
      throw operatorError("EOP_ERR_TARGET_INVALID", `spec.target "${spec.target}" is not a valid ${spec.type} target: ${reasons}`);
    }
    let target = await callPlugin(plugin, "parseTarget", () => plugin.parseTarget(spec.type, spec.target));
    const support = await callPlugin(plugin, "detectSupport", () => plugin.detectSupport(spec.type, this.host, target)).catch((error: unknown) => {
      // The kernel refused the probe itself: the agent lacks privileges, which is not the plugin's fault.
      if (error instanceof Error && error.cause instanceof LibbpfError && (error.cause.code === "EPERM" || error.cause.code === "EACCES")) {
        throw operatorError(
          "EOP_ERR_LOAD_FAILED",
          `cannot check ${spec.type} support: the agent may not use bpf() (${error.cause.message}); run it as root or with CAP_BPF and CAP_PERFMON (docs/deploy.md)`,
          error.cause,
        );
      }
      throw error;
    });
    if (!support.supported) {
      const hint = support.hint ? ` (${support.hint})` : "";
      throw operatorError("EOP_ERR_KERNEL_UNSUPPORTED", `program type "${spec.type}" is not supported by this kernel: ${support.reason}${hint}`);
    }
    if (plugin.resolveTarget) {
      const resolve = plugin.resolveTarget.bind(plugin);
      target = await callPlugin(plugin, "resolveTarget", () => resolve(spec.type, target, this.host));
    }
    return { plugin, target };
  }

  async load(request: LoadRequest): Promise<LoadedProgram> {
    const { ref, spec } = request;
    const { plugin, target } = await this.preflight(spec);
    const loadKey = loadKeyOf(spec, request.object.hash, request.enforcement);
    const dir = generationPinDir(this.pinRoot, ref, loadKey);
    const pinned = (await listPinnedGenerations(this.pinRoot)).find((g) => g.dir === dir);
    if (pinned?.complete) {
      request.logger.info({ loadKey, dir }, "adopting pinned program");
      return this.adopt(request, plugin, target, loadKey, dir);
    }
    if (pinned) await removeGeneration(pinned, this.pinRoot); // an earlier run died half-way through pinning
    return this.loadFresh(request, plugin, target, loadKey, dir);
  }

  /**
   * Checks a running resource's object against its (possibly changed) rules without reloading
   * it: adoption and the agent's "same program, new spec" path call this. `programType` is the
   * loaded program's kernel type. Throws ObjectRefusedError.
   */
  async recheck(request: LoadRequest, programType: string): Promise<void> {
    if (!request.enforcement?.rules && request.enforcement?.namespaceMapBytes === undefined) return;
    const label = `EbpfMap "${request.ref.namespace}/${request.ref.name}"`;
    this.check(request, inspect(await readObject(request.object.path, label), request.spec.code, label), programType, label);
  }

  /** Checks an inspected object against the request's enforcement; returns its maps' memory estimate. */
  private check(request: LoadRequest, report: ObjectReport, programType: string, label: string, attachType?: string): number {
    const cpus = possibleCpus();
    const attached = [{ name: request.spec.program, type: programType, ...(attachType !== undefined ? { attachType } : {}) }];
    checkObject(report, request.enforcement, { attached, possibleCpus: cpus }, label, request.namespaceMapBytesInUse ?? 0);
    return objectMapBytes(report, cpus);
  }

  /** Detaches and unpins a resource's generation; `keepPins` only closes our handles (shutdown). */
  async unload(loaded: LoadedProgram, options: { keepPins?: boolean } = {}): Promise<void> {
    for (const attachment of loaded.attachments) {
      if (attachment.kind === "link") {
        if (!options.keepPins) ignoreErrors(() => attachment.link.detach());
        attachment.link.close();
      } else {
        ignoreErrors(() => attachment.close());
      }
    }
    for (const map of loaded.maps.values()) map.close();
    loaded.program.close();
    if (!options.keepPins) await removeDirAndEmptyParents(loaded.dir, this.pinRoot);
  }

  /** Pinned generations under the root, for garbage collection of what no resource owns. */
  listPinned(): Promise<PinnedGeneration[]> {
    return listPinnedGenerations(this.pinRoot);
  }

  /** Detaches and removes a pinned generation that no loaded resource holds. */
  async removePinned(generation: PinnedGeneration): Promise<void> {
    await removeGeneration(generation, this.pinRoot);
    await removeDirAndEmptyParents(generation.dir, this.pinRoot);
  }

  private async loadFresh(request: LoadRequest, plugin: ProgramTypePlugin, target: unknown, loadKey: string, dir: string): Promise<LoadedProgram> {
    const { ref, spec } = request;
    const label = `EbpfMap "${ref.namespace}/${ref.name}"`;
    const cleanup: (() => void)[] = [];
    const maps = new Map<string, BpfMap>();
    const attachments: Attachment[] = [];
    let object: BpfObject | undefined;
    try {
      // One read: the bytes inspected are the bytes loaded.
      const bytes = await readObject(request.object.path, label);
      const report = inspect(bytes, spec.code, label);
      object = wrap("EOP_ERR_LOAD_FAILED", `open the compiled object of ${label}`, () =>
        BpfObject.open({ buffer: bytes, name: objectName(request.object.path) }),
      );
      const opened = object;
      const programs = opened.programs();
      if (!programs.some((p) => p.name === spec.program)) {
        throw operatorError(
          "EOP_ERR_PROGRAM_NOT_FOUND",
          `spec.program "${spec.program}" is not a program in the code of ${label} (programs: ${programs.map((p) => p.name).join(", ") || "none"})`,
        );
      }
      const mapSpecs = opened.maps();
      // Whether the metrics' maps exist is checked once, with their types, by checkMaps.
      // Only the named program is loaded: others in the file may be of other types.
      for (const other of programs) if (other.name !== spec.program) opened.setAutoload(other.name, false);
      await callPlugin(plugin, "prepare", () => plugin.prepare({ object: opened, programName: spec.program, programType: spec.type, target }));
      const entry = opened.programs().find((p) => p.name === spec.program)!;
      const { enforcement } = request;
      const mapBytes = this.check(request, report, entry.type, label, entry.expectedAttachType);
      if (verdictModeOf(enforcement) === "observe") {
        const rewritten = observeRewrite(report, entry.name, entry.type, opened.programInstructions(entry.name), label);
        if (rewritten) {
          opened.setProgramInstructions(entry.name, rewritten.code);
          request.logger.info({ program: entry.name, exits: rewritten.exits }, "observe mode: every exit of the program returns the pass verdict");
        }
      }
      const dropCapabilities = capabilitiesToDrop([entry.type], enforcement);
      try {
        opened.load({ dropCapabilities });
      } catch (error) {
        if (error instanceof BpfLoadError && (error.verifierLog !== "" || error.program !== undefined)) {
          request.logger.debug({ verifierLog: error.verifierLog }, "verifier log");
          const rejection = formatVerifierRejection(error.verifierLog, { tailLines: VERIFIER_TAIL_LINES, sourceLines: spec.code.split("\n") });
          throw operatorError(
            "EOP_ERR_LOAD_VERIFIER",
            `load program "${spec.program}" for ${label}: the verifier rejected it: ${rejection}`,
            new Error(scrubKernelAddresses(error.message)),
          );
        }
        // libbpf's own log (its last line is in the message) can quote the verifier: scrub it too.
        throw operatorError(
          "EOP_ERR_LOAD_FAILED",
          `load program "${spec.program}" for ${label}`,
          error instanceof Error ? new Error(scrubKernelAddresses(error.message)) : error,
        );
      }
      request.logger.info({ program: entry.name, type: entry.type, droppedCapabilities: dropCapabilities }, "program verified");
      const program = opened.program(spec.program);
      cleanup.push(() => program.close());
      for (const mapSpec of mapSpecs) {
        // libbpf's internal maps for global variables (".rodata", ".bss", ".data", ".kconfig")
        // are left alone: the program holds them itself, nothing exports them, and bpffs refuses
        // a '.' in a pin name, so pinning them would fail the whole load.
        if (isInternalMap(mapSpec.name)) continue;
        const map = opened.map(mapSpec.name);
        maps.set(mapSpec.name, map);
        cleanup.push(() => map.close());
      }
      request.checkMaps?.(maps);
      const made = await callPlugin(
        plugin,
        "attach",
        () => plugin.attach({ program, programType: spec.type, target, resource: ref, host: this.host }),
        "EOP_ERR_ATTACH_FAILED",
        `attach program "${spec.program}" of ${label} to ${spec.type} "${spec.target}"`,
      );
      attachments.push(...made);
      for (const attachment of made) {
        cleanup.push(() => (attachment.kind === "link" ? (ignoreErrors(() => attachment.link.detach()), attachment.link.close()) : attachment.close()));
      }
      await this.pinAll(dir, maps, attachments, program, label);
      opened.close();
      request.logger.info({ loadKey, dir, programId: program.info().id, attachments: attachments.map((a) => a.description) }, "program loaded and attached");
      return { ref, loadKey, dir, adopted: false, program, maps, attachments, mapBytes };
    } catch (error) {
      for (const undo of cleanup.reverse()) ignoreErrors(undo);
      object?.close();
      await assertContained(this.pinRoot, dir)
        .then(() => rm(dir, { recursive: true, force: true }))
        .catch(() => undefined);
      throw error;
    }
  }

  private async pinAll(dir: string, maps: Map<string, BpfMap>, attachments: Attachment[], program: BpfProgram, label: string): Promise<void> {
    try {
      await assertContained(this.pinRoot, dir);
      await mkdir(dir, { recursive: true });
      await assertContained(this.pinRoot, dir);
      for (const [name, map] of maps) map.pin(join(dir, mapPinName(name)));
      attachments.forEach((attachment, index) => {
        if (attachment.kind === "link") attachment.link.pin(join(dir, linkPinName(index)));
      });
      program.pin(join(dir, PROGRAM_PIN)); // last: marks the generation complete
    } catch (error) {
      throw operatorError("EOP_ERR_PIN_FAILED", `pin the objects of ${label} under ${dir}`, error);
    }
  }

  private async adopt(request: LoadRequest, plugin: ProgramTypePlugin, target: unknown, loadKey: string, dir: string): Promise<LoadedProgram> {
    const { ref, spec } = request;
    const label = `EbpfMap "${ref.namespace}/${ref.name}"`;
    const maps = new Map<string, BpfMap>();
    const attachments: Attachment[] = [];
    let program: BpfProgram | undefined;
    try {
      await assertContained(this.pinRoot, dir);
      const entries = (await readdir(dir)).sort();
      for (const entry of entries) await assertContained(this.pinRoot, join(dir, entry), "file");
      program = BpfProgram.openPinned(join(dir, PROGRAM_PIN));
      // The rules may have changed since this generation was loaded: check the object again.
      const report = inspect(await readObject(request.object.path, label), spec.code, label);
      const mapBytes = this.check(request, report, program.info().type, label);
      for (const entry of entries) {
        if (entry.startsWith("map_")) maps.set(entry.slice("map_".length), BpfMap.openPinned(join(dir, entry)));
      }
      for (const entry of entries) {
        if (entry.startsWith("link_")) {
          const link = BpfLink.openPinned(join(dir, entry));
          attachments.push({ kind: "link", link, description: `pinned ${entry}` });
        }
      }
      const missing = requiredMaps(request).find((name) => !maps.has(name));
      if (missing !== undefined) throw operatorError("EOP_ERR_PIN_FAILED", `pinned generation ${dir} of ${label} lacks map "${missing}"`);
      request.checkMaps?.(maps);
      if (attachments.length === 0) {
        // Attachments that cannot be pinned (socket filters held by a socket): attach again.
        const adoptedProgram = program;
        attachments.push(
          ...(await callPlugin(
            plugin,
            "attach",
            () => plugin.attach({ program: adoptedProgram, programType: spec.type, target, resource: ref, host: this.host }),
            "EOP_ERR_ATTACH_FAILED",
            `re-attach program "${spec.program}" of ${label}`,
          )),
        );
      }
      return { ref, loadKey, dir, adopted: true, program, maps, attachments, mapBytes };
    } catch (error) {
      for (const a of attachments) ignoreErrors(() => (a.kind === "link" ? a.link.close() : a.close()));
      for (const m of maps.values()) m.close();
      program?.close();
      // A generation its rules now refuse must not keep running from its pins.
      if (error instanceof ObjectRefusedError) {
        await removeGeneration({ ref, loadKey, dir, complete: true }, this.pinRoot).catch(() => undefined);
        await removeDirAndEmptyParents(dir, this.pinRoot).catch(() => undefined);
      }
      throw withCode("EOP_ERR_PIN_FAILED", `adopt the pinned objects of ${label} in ${dir}`, error);
    }
  }
}

/** libbpf names the maps it makes for global variables "<object>.rodata" and so on. */
function isInternalMap(name: string): boolean {
  return name.includes(".");
}

function requiredMaps(request: LoadRequest): readonly string[] {
  return request.requiredMaps ?? (request.spec.map ? [request.spec.map] : []);
}

/** Calls into a plugin; its own coded errors pass through, anything else is wrapped. */
async function callPlugin<T>(
  plugin: ProgramTypePlugin,
  step: string,
  call: () => T | Promise<T>,
  code: "EOP_ERR_PLUGIN_FAILED" | "EOP_ERR_ATTACH_FAILED" = "EOP_ERR_PLUGIN_FAILED",
  message = `plugin "${plugin.meta.name}" failed in ${step}()`,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof PluginTargetError) throw error;
    throw withCode(code, message, error);
  }
}

function wrap<T>(code: "EOP_ERR_LOAD_FAILED", message: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw operatorError(code, message, error);
  }
}

async function readObject(path: string, label: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw operatorError("EOP_ERR_LOAD_FAILED", `read the compiled object of ${label}`, error);
  }
}

function inspect(bytes: Uint8Array, source: string, label: string): ObjectReport {
  try {
    return inspectObject(bytes, { source });
  } catch (error) {
    if (error instanceof ObjectFormatError) throw operatorError("EOP_ERR_OBJECT_INVALID", `inspect the compiled object of ${label}: ${error.message}`, error);
    throw error;
  }
}

/** libbpf's object name for a file: its base name up to the first dot. */
function objectName(path: string): string {
  return basename(path).split(".")[0] || "object";
}

function ignoreErrors(call: () => void): void {
  try {
    call();
  } catch {
    // best effort: the object is being torn down anyway
  }
}

async function removeGeneration(generation: PinnedGeneration, root: string): Promise<void> {
  await assertContained(root, generation.dir);
  const entries = await readdir(generation.dir).catch(() => [] as string[]);
  for (const entry of entries) {
    if (!entry.startsWith("link_")) continue;
    // A planted link would make us detach another component's program.
    if (
      !(await assertContained(root, join(generation.dir, entry), "file").then(
        () => true,
        () => false,
      ))
    )
      continue;
    ignoreErrors(() => {
      const link = BpfLink.openPinned(join(generation.dir, entry));
      try {
        link.detach();
      } finally {
        link.close();
      }
    });
  }
  await rm(generation.dir, { recursive: true, force: true });
}

/** Removes a generation directory and then its resource and namespace folders when empty. */
async function removeDirAndEmptyParents(dir: string, root: string): Promise<void> {
  await assertContained(root, dir);
  await rm(dir, { recursive: true, force: true });
  let parent = dirname(dir);
  while (parent.startsWith(`${root}/`)) {
    try {
      await rmdir(parent);
    } catch {
      return; // not empty: another generation or resource lives there
    }
    parent = dirname(parent);
  }
}
