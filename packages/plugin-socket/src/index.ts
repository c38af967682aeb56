export { socketPlugin as default, socketPlugin } from "./socket-plugin.js";
export { parseSocketTarget, type SocketTarget } from "./socket-target.js";
