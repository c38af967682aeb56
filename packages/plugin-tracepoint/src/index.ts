export { tracepointPlugin as default, tracepointPlugin } from "./tracepoint-plugin.js";
export { parseTracepointTarget, type TracepointTarget } from "./tracepoint-target.js";
