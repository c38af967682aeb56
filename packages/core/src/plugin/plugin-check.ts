/**
 * Registration-time checks of a plugin package's export, one small check each, each failing
 * with its own error code (after Fastify's plugin metadata checks).
 */
import { operatorError } from "../errors.js";
import { PLUGIN_API_VERSION, type ProgramTypePlugin } from "./sdk.js";

const REQUIRED_FUNCTIONS = ["parseTarget", "detectSupport", "prepare", "attach"] as const;

/** Returns the plugin a package exports (default export, or a named `plugin`), checked. */
export function checkPluginExport(moduleNamespace: unknown, packageName: string): ProgramTypePlugin {
  const candidate = pickExport(moduleNamespace);
  if (typeof candidate !== "object" || candidate === null) {
    throw operatorError("EOP_ERR_PLUGIN_INVALID", `plugin package "${packageName}" has no default export (expected a ProgramTypePlugin from definePlugin())`);
  }
  const plugin = candidate as Partial<ProgramTypePlugin>;
  checkMeta(plugin, packageName);
  checkApiVersion(plugin as ProgramTypePlugin, packageName);
  for (const fn of REQUIRED_FUNCTIONS) {
    if (typeof plugin[fn] !== "function") {
      throw operatorError("EOP_ERR_PLUGIN_INVALID", `plugin "${packageName}" does not implement ${fn}()`);
    }
  }
  if (typeof plugin.targetSchema !== "object" || plugin.targetSchema === null) {
    throw operatorError("EOP_ERR_PLUGIN_INVALID", `plugin "${packageName}" has no targetSchema (a JSON Schema for spec.target)`);
  }
  return plugin as ProgramTypePlugin;
}

function pickExport(moduleNamespace: unknown): unknown {
  if (typeof moduleNamespace !== "object" || moduleNamespace === null) return undefined;
  const ns = moduleNamespace as { default?: unknown; plugin?: unknown };
  return ns.default ?? ns.plugin;
}

function checkMeta(plugin: Partial<ProgramTypePlugin>, packageName: string): void {
  const meta = plugin.meta;
  const problems: string[] = [];
  if (typeof meta !== "object" || meta === null) problems.push("meta is missing");
  else {
    if (typeof meta.name !== "string" || meta.name === "") problems.push("meta.name must be a non-empty string");
    if (typeof meta.version !== "string") problems.push("meta.version must be a string");
    if (typeof meta.apiVersion !== "number") problems.push("meta.apiVersion must be a number");
    if (!Array.isArray(meta.programTypes) || meta.programTypes.length === 0) problems.push("meta.programTypes must list at least one program type");
    else if (meta.programTypes.some((t) => typeof t !== "string" || !/^[a-z][a-z0-9_-]*$/.test(t))) {
      problems.push("meta.programTypes entries must match ^[a-z][a-z0-9_-]*$");
    }
  }
  if (problems.length > 0) {
    throw operatorError("EOP_ERR_PLUGIN_INVALID", `plugin "${packageName}" has invalid metadata: ${problems.join("; ")}`);
  }
}

function checkApiVersion(plugin: ProgramTypePlugin, packageName: string): void {
  if (plugin.meta.apiVersion !== PLUGIN_API_VERSION) {
    throw operatorError(
      "EOP_ERR_PLUGIN_API_VERSION",
      `plugin "${packageName}" implements plugin API v${plugin.meta.apiVersion}; this core implements v${PLUGIN_API_VERSION}`,
    );
  }
}
