/**
 * The program types the agent can run: built from every plugin bound under `PLUGIN` in the
 * container. A plugin that claims a type another plugin already has is reported and left out;
 * the rest keep working.
 */
import { Ajv, type ValidateFunction } from "ajv";
import { operatorError } from "../errors.js";
import type { ProgramTypePlugin, PluginMeta } from "./sdk.js";

export interface RegisteredPlugin {
  plugin: ProgramTypePlugin;
  validateTarget: ValidateFunction;
}

export interface PluginReport {
  specifier: string;
  meta?: PluginMeta;
  loaded: boolean;
  error?: { code: string; message: string };
}

export class PluginRegistry {
  private readonly byType = new Map<string, RegisteredPlugin>();
  readonly reports: PluginReport[] = [];
  // One ajv for target schemas: they are plugin-supplied, so unknown keywords are not fatal.
  private readonly ajv = new Ajv({ allErrors: true, strict: false });

  register(plugin: ProgramTypePlugin, specifier: string = plugin.meta.name): PluginReport {
    const taken = plugin.meta.programTypes.filter((type) => this.byType.has(type));
    if (taken.length > 0) {
      const owners = taken.map((type) => `${type} (by ${this.byType.get(type)!.plugin.meta.name})`).join(", ");
      const error = operatorError("EOP_ERR_PLUGIN_CONFLICT", `plugin "${plugin.meta.name}" claims program types already registered: ${owners}`);
      return this.report({ specifier, meta: plugin.meta, loaded: false, error: { code: error.code, message: error.message } });
    }
    let validateTarget: ValidateFunction;
    try {
      validateTarget = this.ajv.compile(plugin.targetSchema);
    } catch (cause) {
      const error = operatorError("EOP_ERR_PLUGIN_INVALID", `plugin "${plugin.meta.name}" has an invalid targetSchema`, cause);
      return this.report({ specifier, meta: plugin.meta, loaded: false, error: { code: error.code, message: `${error.message}: ${String(cause)}` } });
    }
    for (const type of plugin.meta.programTypes) this.byType.set(type, { plugin, validateTarget });
    return this.report({ specifier, meta: plugin.meta, loaded: true });
  }

  reportFailure(specifier: string, error: { code: string; message: string }): PluginReport {
    return this.report({ specifier, loaded: false, error });
  }

  /** The plugin for a program type, or an error naming the types that are available. */
  forType(type: string): RegisteredPlugin {
    const registered = this.byType.get(type);
    if (registered) return registered;
    const available = [...this.byType.keys()].sort().join(", ") || "none";
    throw operatorError("EOP_ERR_PROGRAM_TYPE_UNKNOWN", `no plugin handles program type "${type}" (available: ${available})`);
  }

  programTypes(): string[] {
    return [...this.byType.keys()].sort();
  }

  private report(report: PluginReport): PluginReport {
    this.reports.push(report);
    return report;
  }
}
