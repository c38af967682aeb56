/**
 * The conformance suite's real-kernel step: a tiny program compiled with the agent's compiler
 * and taken through the agent's `ProgramLoader` — load, attach, pin; an agent "restart" that
 * adopts the pinned generation (links reopened from their pins — a plugin's `adopted` must keep
 * the links its own `attach` made, nothing having changed — handles attached again); then
 * unload, which must detach everything and leave no pin behind.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EbpfMapSpec } from "../api/schema.js";
import { BpfCompiler } from "../compiler/index.js";
import { ensureBpffs, ensureTracefs } from "../kernel/mounts.js";
import type { LoadedProgram } from "../loader/program-loader.js";
import { ProgramLoader } from "../loader/program-loader.js";
import { createLogger } from "../logger.js";
import { PluginRegistry } from "../plugin/plugin-registry.js";
import type { PluginHost, ProgramTypePlugin } from "../plugin/sdk.js";

/** Which load of the cycle an `exercise` call sees. */
export type CyclePhase = "fresh" | "adopted";

export interface KernelCycleOptions {
  /** The program type (`spec.type`). */
  type: string;
  /** The target (`spec.target`); a function when it depends on what `before` made. */
  target: string | (() => string);
  /** The program's C source (as `spec.code`: the agent's prelude and include policy apply). */
  code: string;
  /** The C function to attach (`spec.program`). */
  program: string;
  /** A map the program must have (`spec.map`). */
  map: string;
  /** Makes what the target needs (a binary, an interface); runs before the cycle. */
  before?(): void | Promise<void>;
  /** Removes it again; runs after the cycle, pass or fail. */
  after?(): void | Promise<void>;
  /**
   * Runs once attached, after the fresh load and again after adoption: trigger the hook and
   * check the program saw it (read `loaded.maps`). Throw (or `expect`) to fail.
   */
  exercise?(loaded: LoadedProgram, phase: CyclePhase): void | Promise<void>;
  /** Compile cache; default: the tests' shared `$TMPDIR/eop-test-compile-cache`. */
  cacheDir?: string;
}

export interface KernelCycleReport {
  /** The attachments' descriptions after the fresh load and after adoption. */
  fresh: string[];
  adopted: string[];
  attachmentKinds: ("link" | "handle")[];
  programId: number;
}

/** Runs the cycle; throws, naming the step, when the plugin misbehaves. Needs root. */
export async function runKernelCycle(plugin: ProgramTypePlugin, options: KernelCycleOptions): Promise<KernelCycleReport> {
  const logger = createLogger({ level: "silent" });
  const host: PluginHost = { logger, tracefs: ensureTracefs };
  const pinRoot = `/sys/fs/bpf/eop-conformance-${process.pid}-${randomBytes(4).toString("hex")}`;
  const registry = new PluginRegistry();
  const report = registry.register(plugin);
  if (!report.loaded) throw new Error(`the host refuses the plugin: ${report.error?.message ?? "unknown reason"}`);
  const loaded: LoadedProgram[] = [];
  await options.before?.();
  try {
    await ensureBpffs(pinRoot);
    const target = typeof options.target === "function" ? options.target() : options.target;
    const spec: EbpfMapSpec = { name: "conformance", type: options.type, target, code: options.code, program: options.program, map: options.map };
    const compiler = new BpfCompiler({ cacheDir: options.cacheDir ?? join(tmpdir(), "eop-test-compile-cache"), logger });
    const object = await compiler.compile({ source: options.code, label: `conformance/${plugin.meta.name}` });
    const request = { ref: { namespace: "conformance", name: options.type }, spec, object: { path: object.objectPath, hash: object.hash }, logger };

    const fresh = await new ProgramLoader(pinRoot, registry, host).load(request);
    loaded.push(fresh);
    if (fresh.adopted) throw new Error("the first load adopted a pinned generation: the pin root was not empty");
    checkAttachments(fresh, "attach()");
    await options.exercise?.(fresh, "fresh");
    const kinds = fresh.attachments.map((a) => a.kind);
    const freshDescriptions = fresh.attachments.map((a) => a.description);
    const programId = fresh.program.info().id;
    const freshLinkIds = new Set(fresh.attachments.flatMap((a) => (a.kind === "link" ? [a.link.info().id] : [])));

    // An agent stopping keeps its pins; a new one (a new loader) must adopt them.
    const restarted = new ProgramLoader(pinRoot, registry, host);
    await restarted.unload(loaded.pop()!, { keepPins: true });
    const adopted = await restarted.load(request);
    loaded.push(adopted);
    if (!adopted.adopted) throw new Error(`a restarted agent loaded the program again instead of adopting the pinned generation in ${fresh.dir}`);
    if (adopted.program.info().id !== programId) throw new Error(`adoption gave program ${adopted.program.info().id}, not the pinned ${programId}`);
    checkAttachments(adopted, "adoption (links from pins, handles attached again)");
    // Reopened from their pins, the links are the kernel objects the first load made (same ids);
    // a link attached again is a new one.
    const relinked = adopted.attachments
      .flatMap((a) => (a.kind === "link" ? [{ description: a.description, id: a.link.info().id }] : []))
      .filter((link) => !freshLinkIds.has(link.id))
      .map((link) => `${link.description} (link ${link.id})`);
    if (relinked.length > 0)
      throw new Error(
        `adoption attached the program again (${relinked.join(", ")}) instead of keeping the links its attach() made: adopted() refused them though nothing changed`,
      );
    await options.exercise?.(adopted, "adopted");
    const adoptedDescriptions = adopted.attachments.map((a) => a.description);

    await restarted.unload(loaded.pop()!);
    if (existsSync(adopted.dir)) throw new Error(`unload left the generation directory ${adopted.dir}`);
    return { fresh: freshDescriptions, adopted: adoptedDescriptions, attachmentKinds: kinds, programId };
  } finally {
    for (const l of loaded) await new ProgramLoader(pinRoot, registry, host).unload(l).catch(() => undefined);
    await rm(pinRoot, { recursive: true, force: true }); // removing pins detaches whatever is left
    await options.after?.();
  }
}

function checkAttachments(loaded: LoadedProgram, step: string): void {
  if (loaded.attachments.length === 0) throw new Error(`${step} produced no attachment: the program would not run`);
  for (const a of loaded.attachments) {
    if (a.kind !== "link" && a.kind !== "handle")
      throw new Error(`${step} returned an attachment of unknown kind ${JSON.stringify((a as { kind: unknown }).kind)}`);
    if (typeof a.description !== "string" || a.description.trim() === "")
      throw new Error(`${step} returned an attachment without a description (shown in /status)`);
  }
}
