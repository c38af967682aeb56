/**
 * V8 options the agent sets for itself at start-up. `--no-parallel-scavenge`: a young-generation
 * collection runs on the main thread alone. With the agent's small young generation
 * (`--max-semi-space-size=2`, set where the agent is started: the image's NODE_OPTIONS, the demo)
 * a scavenge during a scrape is ~0.3 ms of work, but the parallel one hands parts of it to V8's
 * helper threads and waits for them; on a machine whose CPUs are busy those threads queue for a
 * CPU like any other, and the same scavenge measured 5–11 ms of pause (issue 16,
 * docs/benchmarks.md). Not allowed in NODE_OPTIONS, and read by V8 at each scavenge, so it is
 * set here rather than on the command line.
 */
import { setFlagsFromString } from "node:v8";

/** Sets the agent's V8 options (idempotent: setting a flag twice is the same as once). */
export function applyAgentGcFlags(): void {
  setFlagsFromString("--no-parallel-scavenge");
}
