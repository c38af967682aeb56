export { rawTracepointPlugin as default, rawTracepointPlugin } from "./raw-tracepoint-plugin.js";
export { parseRawTracepointTarget, RAW_TRACEPOINT_TARGET_PATTERN, type RawTracepointTarget } from "./raw-tracepoint-target.js";
