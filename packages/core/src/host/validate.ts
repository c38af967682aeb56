/**
 * `ebpf-agent validate`: every manifest in the files and directories, checked as far as the
 * agent's load goes short of the kernel — the schema and the spec rules, then (unless
 * `schemaOnly`) each resource's plugins and targets, the sandboxed compile, and its metrics
 * against the compiled object's BTF (agent/check-resource.ts). A manifest it calls ok fails to
 * load only for a reason of the node: the kernel's program types, targets, verifier, attach.
 */
import { readManifests } from "../agent/file-source.js";
import { checkResource, type ResourceCheckDeps } from "../agent/check-resource.js";
import { BpfCompiler } from "../compiler/index.js";
import { DecoderRegistry } from "../decoders/registry.js";
import { describeError, errorCode, errorFault } from "../errors.js";
import { createLogger } from "../logger.js";
import { importPlugin } from "../plugin/plugin-import.js";
import { PluginRegistry } from "../plugin/plugin-registry.js";

export interface ValidateOptions {
  paths: readonly string[];
  /** Stop at the schema and the spec rules: no plugins, no compiler. */
  schemaOnly: boolean;
  plugins: readonly string[];
  cacheDir: string;
  /** As for `run`: default "auto" (bubblewrap when it works; a warn line when it does not). */
  compileSandbox?: "auto" | "required";
  bwrapPath?: string;
  compileTimeoutMs?: number;
  /** Receives one line per resource or problem. */
  write: (line: string) => void;
}

/** The number of problems found (0: every resource is ok). */
export async function validateManifests(options: ValidateOptions): Promise<number> {
  const deps = options.schemaOnly ? undefined : await checkDeps(options);
  let problems = 0;
  for (const path of options.paths) {
    const result = await readManifests(path);
    for (const p of result.problems) options.write(`FAIL ${p.message}`);
    problems += result.problems.length;
    for (const r of result.resources) {
      const what = `${r.source}: EbpfMap "${r.ref.namespace}/${r.ref.name}"`;
      if (!deps) {
        options.write(`ok   ${what} (schema only)`);
        continue;
      }
      try {
        await checkResource(r, deps);
        options.write(`ok   ${what}`);
      } catch (error) {
        problems++;
        // A spec fault is the manifest's; anything else (no clang, a broken plugin) means it could not be checked.
        const verdict = errorFault(error) === "system" ? "ERROR (not checked)" : "FAIL";
        options.write(`${verdict} ${what}: ${errorCode(error) ?? "error"}: ${describeError(error)}`);
      }
    }
  }
  return problems;
}

async function checkDeps(options: ValidateOptions): Promise<ResourceCheckDeps> {
  // The agent's plugin list and decoders, as `run` would have them.
  const registry = new PluginRegistry();
  const decoders = new DecoderRegistry();
  for (const specifier of options.plugins) {
    const outcome = await importPlugin(specifier);
    if (!outcome.plugin) {
      registry.reportFailure(specifier, outcome.error!);
      options.write(`warn plugin ${specifier} did not load: ${outcome.error!.message}`);
      continue;
    }
    registry.register(outcome.plugin, specifier);
    for (const conflict of decoders.registerPlugin(outcome.plugin.meta.name, outcome.plugin.decoders ?? [])) options.write(`warn ${conflict.message}`);
  }
  // The agent's compiler settings: validate runs the manifests' C through the same sandbox.
  const compiler = new BpfCompiler({
    cacheDir: options.cacheDir,
    sandbox: options.compileSandbox ?? "auto",
    ...(options.bwrapPath ? { bwrapPath: options.bwrapPath } : {}),
    ...(options.compileTimeoutMs ? { timeoutMs: options.compileTimeoutMs } : {}),
    logger: createLogger({ level: "silent", component: "compiler" }),
  });
  // Unconfined clang on manifests that may come from anyone is said, as `run` says it. A compiler
  // that cannot run (or a required sandbox that is missing) fails each resource with its reason.
  const info = await compiler.toolchainInfo().catch(() => undefined);
  if (info && info.sandbox.mode !== "bwrap")
    options.write(
      `warn COMPILER SANDBOX UNAVAILABLE: clang compiles these manifests' C unconfined (${info.sandbox.reason ?? "no reason given"}); install bubblewrap or use --compile-sandbox required`,
    );
  return { registry, decoders, compiler };
}
