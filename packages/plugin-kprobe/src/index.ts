export { kprobePlugin as default, kprobePlugin } from "./kprobe-plugin.js";
export { parseKprobeTarget, type KprobeTarget } from "./kprobe-target.js";
export { kernelSymbols, resolveFunction, syscallWrapperPrefix, type KernelSymbols } from "./kernel-symbols.js";
