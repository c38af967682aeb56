/**
 * ebpf-operator-plugin-uprobe: program types `uprobe` and `uretprobe`. The default export is the
 * plugin the agent loads (`--plugin ebpf-operator-plugin-uprobe`, or a path to this package).
 */
export { uprobePlugin as default, uprobePlugin } from "./uprobe-plugin.js";
export { parseUprobeTarget, describeTarget, uprobeTargetSchema, UPROBE_TARGET_PATTERN, type UprobeTarget } from "./uprobe-target.js";
export { readFunctionSymbols, type FunctionSymbols, type ElfProblem } from "./elf-symbols.js";
export { resolveBinary, searchDirectories } from "./binary-path.js";
