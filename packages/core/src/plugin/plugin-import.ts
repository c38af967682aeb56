/**
 * Loading plugin packages named in configuration. A bare name is imported as a package (from
 * the node_modules tree the agent is installed in: that is where `npm install` puts a
 * third-party plugin next to the built-in ones); a path (`./x`, `/x`) is imported as a file or
 * a package folder, resolved from the working directory.
 */
import { readFileSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describeError, operatorError } from "../errors.js";
import { checkPluginExport } from "./plugin-check.js";
import type { ProgramTypePlugin } from "./sdk.js";

export interface PluginLoadOutcome {
  /** The name or path as configured. */
  specifier: string;
  plugin?: ProgramTypePlugin;
  error?: { code: string; message: string };
}

export type ModuleImporter = (specifier: string) => Promise<unknown>;

/** A bare package name stays as it is; a path becomes a file URL (a folder: its package entry). */
export function resolvePluginSpecifier(specifier: string, cwd: string = process.cwd()): string {
  if (!(specifier.startsWith(".") || isAbsolute(specifier))) return specifier;
  const path = resolve(cwd, specifier);
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) {
    return pathToFileURL(join(path, packageEntry(path))).href;
  }
  return pathToFileURL(path).href;
}

/** The ESM entry of a package folder: `exports["."].import`, `exports["."].default`, `main`. */
function packageEntry(dir: string): string {
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    main?: string;
    exports?: string | Record<string, string | Record<string, string>>;
  };
  const dot = typeof manifest.exports === "object" ? manifest.exports["."] : manifest.exports;
  if (typeof dot === "string") return dot;
  if (dot && typeof dot === "object") {
    const entry = dot.import ?? dot.default;
    if (typeof entry === "string") return entry;
  }
  return manifest.main ?? "index.js";
}

/** Imports and checks one plugin; never throws — a failure is returned for reporting. */
export async function importPlugin(specifier: string, importer: ModuleImporter = (s) => import(s)): Promise<PluginLoadOutcome> {
  let moduleNamespace: unknown;
  try {
    moduleNamespace = await importer(resolvePluginSpecifier(specifier));
  } catch (error) {
    const wrapped = operatorError("EOP_ERR_PLUGIN_LOAD", `import plugin "${specifier}"`, error);
    return { specifier, error: { code: wrapped.code, message: describeError(wrapped) } };
  }
  try {
    return { specifier, plugin: checkPluginExport(moduleNamespace, specifier) };
  } catch (error) {
    const code = (error as { code?: string }).code ?? "EOP_ERR_PLUGIN_INVALID";
    return { specifier, error: { code, message: describeError(error) } };
  }
}
