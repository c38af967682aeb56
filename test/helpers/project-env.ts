/**
 * Hands a project's globalSetup results (kubeconfig, binaries, run directory) to that project's
 * test workers.
 *
 * Why not plain process.env: every project's globalSetup runs in the one vitest main process, so
 * when the `kube` and the `node` projects run together the second setup's env vars overwrite the
 * first's, and one project's tests attach to the other's cluster. `project.provide` is scoped to
 * the project; this setup file (listed in the project's `setupFiles`) copies the values into the
 * worker's env, where the helpers (and the processes the tests spawn) read them.
 */
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Env vars for the test workers of the project whose globalSetup provided them. */
    eopTestEnv: Record<string, string>;
  }
}

Object.assign(process.env, inject("eopTestEnv"));
