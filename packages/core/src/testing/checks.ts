/**
 * The conformance checks as plain functions: each returns the problems it found (empty when the
 * plugin conforms), so they can be tested on deliberately broken plugins and reused outside
 * vitest. `conformance.ts` registers them as tests. Wherever the host has a check of its own
 * (export shape, target schema compilation, decoder names), the host's code is called, so a
 * plugin that passes here is one the agent accepts.
 */
import type { ValidateFunction } from "ajv";
import { describeError } from "../errors.js";
import { DecoderRegistry } from "../decoders/registry.js";
import { checkPluginExport } from "../plugin/plugin-check.js";
import { PluginRegistry } from "../plugin/plugin-registry.js";
import { PLUGIN_API_VERSION, PluginTargetError, SKIP, type Decoder, type KernelSupport, type ProgramTypePlugin } from "../plugin/sdk.js";

/** A `spec.type` and `spec.target` pair. */
export interface TargetCase {
  type: string;
  target: string;
}

/** A target the plugin must refuse with `EOP_ERR_TARGET_INVALID`. */
export interface InvalidTargetCase extends TargetCase {
  /**
   * The target schema cannot tell this target is wrong (the rule depends on the program type,
   * say, and one schema serves all of the plugin's types): only parseTarget refuses it. Without
   * this flag the schema must refuse it too, so the operator refuses it before publishing it to
   * any node.
   */
  schemaAccepts?: boolean;
  /**
   * A known, not yet fixed defect: the case runs as an expected failure (`it.fails`) and turns
   * red once fixed, so the marker is removed. Say what is wrong, e.g. "schema accepts an empty path".
   */
  knownIssue?: string;
}

/** The metadata checks of the host (`checkPluginExport`), as when the agent imports the package. */
export function checkMetadata(plugin: unknown, name = "plugin under test"): string[] {
  try {
    checkPluginExport({ default: plugin }, name);
    return [];
  } catch (error) {
    return [describeError(error)];
  }
}

/** `meta.apiVersion` must be the plugin-API version of the core the plugin is tested against. */
export function checkApiVersion(plugin: ProgramTypePlugin): string[] {
  return plugin.meta.apiVersion === PLUGIN_API_VERSION
    ? []
    : [`meta.apiVersion is ${String(plugin.meta.apiVersion)}; this core implements plugin API v${PLUGIN_API_VERSION} (use PLUGIN_API_VERSION)`];
}

/** Compiles the target schema the way the agent does (`PluginRegistry`, ajv); a problem when it cannot. */
export function compileTargetSchema(plugin: ProgramTypePlugin): { validate?: ValidateFunction; problems: string[] } {
  const registry = new PluginRegistry();
  const report = registry.register(plugin);
  if (!report.loaded) return { problems: [report.error?.message ?? "the host refused the plugin"] };
  return { validate: registry.forType(plugin.meta.programTypes[0]!).validateTarget, problems: [] };
}

/** Every declared program type needs valid and invalid targets; every case names a declared type. */
export function checkTargetCoverage(plugin: ProgramTypePlugin, valid: readonly TargetCase[], invalid: readonly TargetCase[]): string[] {
  const types = plugin.meta.programTypes;
  const problems: string[] = [];
  for (const type of types) {
    if (!valid.some((c) => c.type === type)) problems.push(`no valid target is given for program type "${type}" (validTargets)`);
    if (!invalid.some((c) => c.type === type)) problems.push(`no invalid target is given for program type "${type}" (invalidTargets)`);
  }
  for (const c of [...valid, ...invalid]) {
    if (!types.includes(c.type))
      problems.push(`target ${JSON.stringify(c.target)} names program type "${c.type}", which the plugin does not declare (${types.join(", ")})`);
  }
  return problems;
}

/** A valid target passes the schema and parseTarget. */
export function checkValidTarget(plugin: ProgramTypePlugin, validate: ValidateFunction, c: TargetCase): string[] {
  const problems: string[] = [];
  if (!validate(c.target)) {
    const reasons = (validate.errors ?? []).map((e) => e.message ?? e.keyword).join("; ");
    problems.push(`targetSchema refuses the valid ${c.type} target ${JSON.stringify(c.target)} (${reasons}): the host would never call parseTarget`);
  }
  try {
    plugin.parseTarget(c.type, c.target);
  } catch (error) {
    problems.push(`parseTarget("${c.type}", ${JSON.stringify(c.target)}) threw: ${describeError(error)}`);
  }
  return problems;
}

/**
 * An invalid target: parseTarget throws core's `PluginTargetError` with `EOP_ERR_TARGET_INVALID`
 * and a message quoting the target, and (unless `schemaAccepts`) the schema refuses it as well.
 */
export function checkInvalidTarget(plugin: ProgramTypePlugin, validate: ValidateFunction, c: InvalidTargetCase): string[] {
  const problems: string[] = [];
  const what = `parseTarget("${c.type}", ${JSON.stringify(c.target)})`;
  let thrown: unknown;
  let threw = false;
  try {
    plugin.parseTarget(c.type, c.target);
  } catch (error) {
    thrown = error;
    threw = true;
  }
  if (!threw) problems.push(`${what} accepted a target listed as invalid`);
  else problems.push(...targetErrorProblems(what, thrown, "EOP_ERR_TARGET_INVALID"));
  if (threw && thrown instanceof Error && !thrown.message.includes(c.target)) {
    problems.push(`${what} threw "${thrown.message}", which does not quote the target: users need to see what was refused`);
  }
  const schemaAccepts = validate(c.target);
  if (schemaAccepts && !c.schemaAccepts) {
    problems.push(
      `targetSchema accepts the invalid ${c.type} target ${JSON.stringify(c.target)}: tighten the schema, or mark the case schemaAccepts when only parseTarget can tell`,
    );
  }
  return problems;
}

/** What a target error must be for the host to report it as such (not as a plugin failure). */
export function targetErrorProblems(what: string, error: unknown, code: PluginTargetError["code"]): string[] {
  if (error instanceof PluginTargetError) {
    return error.code === code ? [] : [`${what} threw PluginTargetError ${error.code}; expected ${code}`];
  }
  if (error instanceof Error && error.name === "PluginTargetError") {
    return [
      `${what} threw a PluginTargetError of another copy of @ebpf-operator/core: the host would report it as EOP_ERR_PLUGIN_FAILED. ` +
        "Declare core a peerDependency and keep it external in the build (do not bundle it).",
    ];
  }
  return [`${what} threw ${describeError(error)}; expected a PluginTargetError (${code}) — anything else becomes EOP_ERR_PLUGIN_FAILED`];
}

/** How long one schema check or parseTarget may take on a target of at most a few hundred bytes. */
export const TARGET_TIME_BUDGET_MS = 250;

/**
 * parseTarget answers malformed input with a value or a PluginTargetError, never a crash; it
 * and the schema answer quickly. Targets come from users' manifests: a regular expression that
 * backtracks catastrophically (nested quantifiers such as `(a+/?)*`) lets one manifest stall
 * the agent, and the operator through the schema.
 */
export function checkMalformedTarget(
  plugin: ProgramTypePlugin,
  validate: ValidateFunction,
  type: string,
  target: string,
  budgetMs = TARGET_TIME_BUDGET_MS,
): string[] {
  const what = `parseTarget("${type}", ${JSON.stringify(target)})`;
  const problems: string[] = [];
  let started = performance.now();
  validate(target);
  const schemaMs = performance.now() - started;
  if (schemaMs > budgetMs) problems.push(`targetSchema took ${Math.round(schemaMs)} ms on ${JSON.stringify(target)}: catastrophic backtracking in a pattern?`);
  started = performance.now();
  try {
    plugin.parseTarget(type, target);
  } catch (error) {
    if (!(error instanceof PluginTargetError)) problems.push(...targetErrorProblems(what, error, "EOP_ERR_TARGET_INVALID"));
  }
  const parseMs = performance.now() - started;
  if (parseMs > budgetMs) problems.push(`${what} took ${Math.round(parseMs)} ms: catastrophic backtracking in a regular expression?`);
  return problems;
}

/**
 * Runs pumped target families (see `pumpedTargetFamilies`) and stops at the first answer over
 * the budget: one such target is enough to show the backtracking.
 */
export function checkTargetTiming(
  plugin: ProgramTypePlugin,
  validate: ValidateFunction,
  type: string,
  families: readonly (readonly string[])[],
  budgetMs = TARGET_TIME_BUDGET_MS,
): string[] {
  for (const family of families) {
    for (const target of family) {
      const problems = checkMalformedTarget(plugin, validate, type, target, budgetMs);
      if (problems.length > 0) return problems;
    }
  }
  return [];
}

/** A well-formed KernelSupport: `supported` a boolean; when false, a reason (and a string hint if any). */
export function checkKernelSupport(support: unknown, type: string): string[] {
  const what = `detectSupport("${type}")`;
  if (typeof support !== "object" || support === null) return [`${what} returned ${String(support)}, not a KernelSupport object`];
  const s = support as Partial<Record<keyof KernelSupport | "reason" | "hint", unknown>>;
  if (typeof s.supported !== "boolean") return [`${what} returned supported=${String(s.supported)}, not a boolean`];
  if (s.supported) return [];
  const problems: string[] = [];
  if (typeof s.reason !== "string" || s.reason.trim() === "")
    problems.push(`${what} says unsupported without a reason: users need to know what the kernel lacks`);
  if (s.hint !== undefined && (typeof s.hint !== "string" || s.hint.trim() === "")) problems.push(`${what} returned a hint that is not a non-empty string`);
  return problems;
}

/** The plugin's decoders as the host registers them: snake_case, unique, no name core owns. */
export function checkDecoderNames(plugin: ProgramTypePlugin): string[] {
  const decoders = plugin.decoders ?? [];
  if (!Array.isArray(decoders)) return ["decoders must be an array of Decoder objects"];
  return new DecoderRegistry().registerPlugin(plugin.meta.name, decoders).map((c) => c.message);
}

/**
 * A decoder on many inputs: never throws, and returns a string, a Buffer or SKIP. (The host
 * would survive a throw, as `unknown:0x…`, but the decoder is on the scrape's hot path.)
 */
export function checkDecoderOutputs(decoder: Decoder, inputs: readonly Buffer[], options: Readonly<Record<string, unknown>> = {}): string[] {
  const problems: string[] = [];
  for (const input of inputs) {
    const what = `decoder "${decoder.name}" on 0x${input.toString("hex")} (${JSON.stringify(input.toString("latin1"))})`;
    try {
      const out: unknown = decoder.decode(Buffer.from(input), options);
      if (typeof out !== "string" && !Buffer.isBuffer(out) && out !== SKIP)
        problems.push(`${what} returned ${describeValue(out)}; expected a string, a Buffer or SKIP`);
    } catch (error) {
      problems.push(`${what} threw ${describeError(error)}; return a fallback such as unknown:<n> instead`);
    }
    if (problems.length >= 5) break; // enough to see the pattern
  }
  return problems;
}

function describeValue(value: unknown): string {
  if (typeof value === "symbol") return value.toString();
  if (typeof value === "object" && value !== null) return `an object (${Object.prototype.toString.call(value)})`;
  return `${typeof value} ${String(value)}`;
}
