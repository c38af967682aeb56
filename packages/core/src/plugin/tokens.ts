/**
 * Service identifiers of the agent's inversify container. Plugins are multi-injected under
 * `PLUGIN`: each configured package contributes one binding.
 */
import type { ServiceIdentifier } from "inversify";
import type { ProgramTypePlugin } from "./sdk.js";

export const PLUGIN: ServiceIdentifier<ProgramTypePlugin> = Symbol.for("ebpf-operator.ProgramTypePlugin");
