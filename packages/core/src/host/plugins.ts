/**
 * Plugin loading and its report, shared by every process that loads program-type plugins (the
 * agents and the operator): each configured package is imported on its own, a failure is
 * reported (log line with its code, `loaded="false"` on the plugins gauge) and the rest work.
 */
import type { Gauge } from "prom-client";
import type { Logger } from "../logger.js";
import { importPlugin } from "../plugin/plugin-import.js";
import { PluginRegistry, type PluginReport } from "../plugin/plugin-registry.js";

/** Imports and registers every configured plugin. */
export async function loadPlugins(specifiers: readonly string[]): Promise<PluginRegistry> {
  const registry = new PluginRegistry();
  for (const specifier of specifiers) {
    const outcome = await importPlugin(specifier);
    if (outcome.plugin) registry.register(outcome.plugin, specifier);
    else registry.reportFailure(specifier, outcome.error!);
  }
  return registry;
}

/** Logs each plugin's outcome and sets `gauge{plugin,version,loaded}` when given. */
export function reportPlugins(reports: readonly PluginReport[], logger: Logger, gauge?: Gauge<"plugin" | "version" | "loaded">): void {
  for (const report of reports) {
    gauge?.set({ plugin: report.meta?.name ?? report.specifier, version: report.meta?.version ?? "", loaded: String(report.loaded) }, 1);
    if (report.loaded) logger.info({ plugin: report.meta?.name, version: report.meta?.version, programTypes: report.meta?.programTypes }, "plugin loaded");
    else logger.error({ plugin: report.specifier, code: report.error?.code }, report.error?.message ?? "plugin failed to load");
  }
}
