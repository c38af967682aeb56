export { fentryPlugin as default, fentryPlugin } from "./fentry-plugin.js";
export { FENTRY_TARGET_PATTERN, parseFentryTarget, type FentryTarget } from "./fentry-target.js";
export { resolveKernelFunction, syscallWrapperPrefix } from "./kernel-functions.js";
