/**
 * `describePluginConformance`: the plugin contract as a vitest suite any plugin package runs in
 * its own tests. It registers tests (`describe`/`it` from the `vitest` the plugin's tests run
 * with — a peer of this module, not bundled) that exercise the plugin the way the agent will.
 */
import { describe, expect, it } from "vitest";
import type { ValidateFunction } from "ajv";
import { ensureTracefs } from "../kernel/mounts.js";
import { createLogger } from "../logger.js";
import type { PluginHost, ProgramTypePlugin } from "../plugin/sdk.js";
import {
  checkApiVersion,
  checkDecoderNames,
  checkDecoderOutputs,
  checkInvalidTarget,
  checkKernelSupport,
  checkMalformedTarget,
  checkMetadata,
  checkTargetTiming,
  checkTargetCoverage,
  checkValidTarget,
  compileTargetSchema,
  type InvalidTargetCase,
  type TargetCase,
} from "./checks.js";
import { decoderInputs, pumpedTargetFamilies, targetMutations } from "./fuzz.js";
import { runKernelCycle, type KernelCycleOptions } from "./kernel-cycle.js";

export interface ConformanceOptions {
  /** Targets the plugin accepts: at least one per declared program type. */
  validTargets: readonly TargetCase[];
  /** Targets it must refuse with EOP_ERR_TARGET_INVALID: at least one per declared program type. */
  invalidTargets: readonly InvalidTargetCase[];
  /**
   * A real load → attach → adopt → unload cycle through the agent's ProgramLoader (root, bpffs,
   * clang). Put the suite with this option in a `*.kernel.test.ts` file. Skipped, with the
   * plugin's reason, when detectSupport says the kernel cannot run the type.
   */
  kernel?: KernelCycleOptions;
  /** Options to run each decoder with, by decoder name (default: `{}` only). */
  decoderOptions?: Readonly<Record<string, readonly Readonly<Record<string, unknown>>[]>>;
  /** Random inputs per decoder (default 300) and malformed targets per type (default 200). */
  fuzzRuns?: { decoders?: number; targets?: number };
  /** Seed of the random inputs (default 1): fixed, so every run tests the same inputs. */
  seed?: number;
  /**
   * Known, not yet fixed defects by check, run as expected failures (`it.fails`): the suite
   * stays green and turns red once the defect is fixed, so the marker goes. Only for checks
   * whose fix is pending elsewhere; a new plugin should have none.
   */
  knownIssues?: { targetTiming?: string };
  /** The host detectSupport gets (default: silent logger, tracefs mounted on demand). */
  host?: PluginHost;
}

/**
 * Registers the conformance tests of `plugin` under `describe("<name> conforms to the plugin
 * contract")`. Call it at the top level of a test file.
 */
export function describePluginConformance(plugin: ProgramTypePlugin, options: ConformanceOptions): void {
  const name = typeof plugin?.meta?.name === "string" ? plugin.meta.name : "plugin";
  const seed = options.seed ?? 1;
  const host: PluginHost = options.host ?? { logger: createLogger({ level: "silent" }), tracefs: ensureTracefs };
  const noProblems = (problems: string[]) => expect(problems, problems.join("\n")).toEqual([]);

  describe(`${name} conforms to the plugin contract`, () => {
    it("passes the host's checks of the export (meta, functions, targetSchema)", () => {
      noProblems(checkMetadata(plugin, name));
    });

    it("declares the plugin-API version of this core", () => {
      noProblems(checkApiVersion(plugin));
    });

    it("gives valid and invalid targets for every program type it declares", () => {
      noProblems(checkTargetCoverage(plugin, options.validTargets, options.invalidTargets));
    });

    describe("targets", () => {
      let validate: ValidateFunction | undefined;
      const schema = () => {
        if (validate) return validate;
        const compiled = compileTargetSchema(plugin);
        noProblems(compiled.problems);
        validate = compiled.validate!;
        return validate;
      };

      it("has a targetSchema the host's ajv compiles", () => {
        schema();
      });

      it.each(options.validTargets.map((c) => [c.type, c.target, c] as const))("accepts the valid %s target %j in the schema and parseTarget", (_t, _x, c) => {
        noProblems(checkValidTarget(plugin, schema(), c));
      });

      for (const c of options.invalidTargets) {
        const title = `refuses the invalid ${c.type} target ${JSON.stringify(c.target)} with EOP_ERR_TARGET_INVALID quoting it`;
        (c.knownIssue ? it.fails : it)(c.knownIssue ? `${title} (known issue: ${c.knownIssue})` : title, () => {
          noProblems(checkInvalidTarget(plugin, schema(), c));
        });
      }

      it("answers malformed targets quickly, with a value or a PluginTargetError, never a crash", () => {
        const runs = options.fuzzRuns?.targets ?? 200;
        const problems: string[] = [];
        for (const type of plugin.meta.programTypes) {
          const valid = options.validTargets.filter((c) => c.type === type).map((c) => c.target);
          for (const mutant of targetMutations(valid, runs, seed)) problems.push(...checkMalformedTarget(plugin, schema(), type, mutant));
        }
        noProblems(problems.slice(0, 5));
      });

      const timingIssue = options.knownIssues?.targetTiming;
      const timingTitle = "answers ever longer targets in time (no catastrophic backtracking in its patterns)";
      (timingIssue ? it.fails : it)(timingIssue ? `${timingTitle} (known issue: ${timingIssue})` : timingTitle, () => {
        for (const type of plugin.meta.programTypes) {
          const valid = options.validTargets.filter((c) => c.type === type).map((c) => c.target);
          noProblems(checkTargetTiming(plugin, schema(), type, pumpedTargetFamilies(valid)));
        }
      });
    });

    describe("kernel support", () => {
      const cases = plugin.meta.programTypes.flatMap((type) => [
        { type, target: undefined as string | undefined },
        ...options.validTargets.filter((c) => c.type === type).slice(0, 1),
      ]);
      it.each(cases.map((c) => [c.type, c.target ?? "(no target)", c] as const))(
        "detects %s support for %s as a well-formed KernelSupport",
        async (_t, _x, c) => {
          const target = c.target === undefined ? undefined : plugin.parseTarget(c.type, c.target);
          noProblems(checkKernelSupport(await plugin.detectSupport(c.type, host, target), c.type));
        },
      );
    });

    describe("decoders", () => {
      it("has snake_case decoder names of its own: unique, none of core's", () => {
        noProblems(checkDecoderNames(plugin));
      });

      const decoders = plugin.decoders ?? [];
      const inputs = decoderInputs(options.fuzzRuns?.decoders ?? 300, seed);
      it.each(decoders.map((d) => [d.name, d] as const))("decoder %s never throws and returns text, bytes or SKIP", (_n, decoder) => {
        const problems: string[] = [];
        for (const opts of options.decoderOptions?.[decoder.name] ?? [{}]) problems.push(...checkDecoderOutputs(decoder, inputs, opts));
        noProblems(problems);
      });
    });

    if (options.kernel) {
      const cycle = options.kernel;
      describe("on the kernel", () => {
        it(`loads, attaches, is adopted after a restart and detaches a ${cycle.type} program through the agent's loader`, async (ctx) => {
          const probeTarget = typeof cycle.target === "string" ? plugin.parseTarget(cycle.type, cycle.target) : undefined;
          const support = await plugin.detectSupport(cycle.type, host, probeTarget);
          if (!support.supported) {
            ctx.skip(`this kernel does not support ${cycle.type}: ${support.reason}`);
            return;
          }
          const report = await runKernelCycle(plugin, cycle);
          expect(report.fresh.length).toBeGreaterThan(0);
          expect(report.adopted.length).toBe(report.fresh.length);
        });
      });
    }
  });
}
