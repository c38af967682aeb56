import { describe, expect, it } from "vitest";
import { PluginTargetError, SKIP, definePlugin, type Decoder, type ProgramTypePlugin } from "../plugin/sdk.js";
import {
  checkApiVersion,
  checkDecoderNames,
  checkDecoderOutputs,
  checkInvalidTarget,
  checkKernelSupport,
  checkMalformedTarget,
  checkMetadata,
  checkTargetCoverage,
  checkTargetTiming,
  checkValidTarget,
  compileTargetSchema,
} from "./checks.js";
import { decoderInputs, pumpedTargetFamilies, seededRandom, targetMutations } from "./fuzz.js";

/** A small, correct plugin: targets are lower-case words. */
function wordPlugin(overrides: Partial<ProgramTypePlugin<string>> = {}): ProgramTypePlugin<string> {
  return definePlugin<string>({
    meta: { name: "test-plugin", version: "1.0.0", apiVersion: 1, programTypes: ["word"] },
    targetSchema: { type: "string", pattern: "^[a-z]+$" },
    parseTarget(type, target) {
      if (!/^[a-z]+$/.test(target)) throw new PluginTargetError("EOP_ERR_TARGET_INVALID", `${type} target "${target}" is not a word`);
      return target;
    },
    detectSupport: async () => ({ supported: true }),
    prepare: () => undefined,
    attach: async () => [],
    ...overrides,
  });
}

const validate = (plugin: ProgramTypePlugin) => compileTargetSchema(plugin).validate!;

describe("the conformance checks", () => {
  it("pass a correct plugin", () => {
    const plugin = wordPlugin();
    expect(checkMetadata(plugin)).toEqual([]);
    expect(checkApiVersion(plugin)).toEqual([]);
    expect(checkTargetCoverage(plugin, [{ type: "word", target: "abc" }], [{ type: "word", target: "1" }])).toEqual([]);
    expect(checkValidTarget(plugin, validate(plugin), { type: "word", target: "abc" })).toEqual([]);
    expect(checkInvalidTarget(plugin, validate(plugin), { type: "word", target: "a-b" })).toEqual([]);
    expect(checkDecoderNames(plugin)).toEqual([]);
  });

  it("report metadata the host refuses, with the host's message", () => {
    const plugin = wordPlugin({ meta: { name: "", version: "1", apiVersion: 1, programTypes: ["Bad Type"] } });
    expect(checkMetadata(plugin)[0]).toMatch(/meta.name must be a non-empty string; meta.programTypes entries must match/);
  });

  it("report another plugin-API version", () => {
    expect(checkApiVersion(wordPlugin({ meta: { name: "p", version: "1", apiVersion: 2, programTypes: ["word"] } }))).toEqual([
      "meta.apiVersion is 2; this core implements plugin API v1 (use PLUGIN_API_VERSION)",
    ]);
  });

  it("report a target schema ajv cannot compile", () => {
    expect(compileTargetSchema(wordPlugin({ targetSchema: { type: "string", pattern: "([" } })).problems[0]).toMatch(/invalid targetSchema/);
  });

  it("report program types without targets and targets of undeclared types", () => {
    expect(checkTargetCoverage(wordPlugin(), [{ type: "other", target: "x" }], [])).toEqual([
      'no valid target is given for program type "word" (validTargets)',
      'no invalid target is given for program type "word" (invalidTargets)',
      'target "x" names program type "other", which the plugin does not declare (word)',
    ]);
  });

  it("report a valid target the schema refuses", () => {
    const plugin = wordPlugin({ targetSchema: { type: "string", pattern: "^[a-c]+$" } });
    expect(checkValidTarget(plugin, validate(plugin), { type: "word", target: "xyz" })[0]).toMatch(/targetSchema refuses the valid word target "xyz"/);
  });

  it("report an invalid target the schema accepts unless the case says only parseTarget can tell", () => {
    const plugin = wordPlugin({ targetSchema: { type: "string" } });
    expect(checkInvalidTarget(plugin, validate(plugin), { type: "word", target: "1" })[0]).toMatch(/targetSchema accepts the invalid word target "1"/);
    expect(checkInvalidTarget(plugin, validate(plugin), { type: "word", target: "1", schemaAccepts: true })).toEqual([]);
  });

  it("report a plain Error, another code, or a message without the target", () => {
    const throwing = (error: Error) =>
      wordPlugin({
        parseTarget: () => {
          throw error;
        },
      });
    const check = (plugin: ProgramTypePlugin) => checkInvalidTarget(plugin, validate(plugin), { type: "word", target: "1" });
    expect(check(throwing(new TypeError('bad "1"')))[0]).toMatch(/threw bad "1"; expected a PluginTargetError .* EOP_ERR_PLUGIN_FAILED/);
    expect(check(throwing(new PluginTargetError("EOP_ERR_TARGET_NOT_FOUND", '"1"')))[0]).toMatch(
      /threw PluginTargetError EOP_ERR_TARGET_NOT_FOUND; expected EOP_ERR_TARGET_INVALID/,
    );
    expect(check(throwing(new PluginTargetError("EOP_ERR_TARGET_INVALID", "no")))[0]).toMatch(/does not quote the target/);
  });

  it("recognise a PluginTargetError of a bundled copy of core", () => {
    class PluginTargetError extends Error {
      readonly code = "EOP_ERR_TARGET_INVALID";
      override readonly name = "PluginTargetError";
    }
    const plugin = wordPlugin({
      parseTarget: () => {
        throw new PluginTargetError('"1"');
      },
    });
    expect(checkInvalidTarget(plugin, validate(plugin), { type: "word", target: "1" })[0]).toMatch(/another copy of @ebpf-operator\/core/);
  });

  it("report a parseTarget that crashes on malformed input", () => {
    const plugin = wordPlugin({ parseTarget: (_type, target) => target.match(/^[a-z]+$/)![0] });
    expect(checkMalformedTarget(plugin, validate(plugin), "word", "a b")[0]).toMatch(/threw .*expected a PluginTargetError/);
  });

  it("stop at the first target a backtracking pattern answers slowly", () => {
    const plugin = wordPlugin({ targetSchema: { type: "string", pattern: "^(?:[a-z]+/?)*$" } });
    const problems = checkTargetTiming(plugin, validate(plugin), "word", pumpedTargetFamilies(["ab"]), 20);
    expect(problems).toEqual([expect.stringMatching(/^targetSchema took \d+ ms on ".*": catastrophic backtracking/)]);
  });

  it("report unsupported without a reason, and an empty hint", () => {
    expect(checkKernelSupport({ supported: true }, "word")).toEqual([]);
    expect(checkKernelSupport({ supported: false, reason: "no BTF", hint: "use x" }, "word")).toEqual([]);
    expect(checkKernelSupport({ supported: false, reason: " " }, "word")[0]).toMatch(/unsupported without a reason/);
    expect(checkKernelSupport({ supported: false, reason: "r", hint: "" }, "word")[0]).toMatch(/hint/);
    expect(checkKernelSupport(undefined, "word")[0]).toMatch(/not a KernelSupport/);
  });

  it("report decoders named like core's, twice, or not in snake_case", () => {
    const decoder = (name: string): Decoder => ({ name, decode: () => "x" });
    const plugin = wordPlugin({ decoders: [decoder("uint"), decoder("word_kind"), decoder("word_kind"), decoder("WordKind")] });
    expect(checkDecoderNames(plugin)).toEqual([
      expect.stringMatching(/"uint" .* is a core decoder/),
      expect.stringMatching(/"word_kind" .* is already registered by plugin "test-plugin"/),
      expect.stringMatching(/"WordKind" .* is not a valid decoder/),
    ]);
  });

  it("report decoders that throw or return something else than text, bytes or SKIP", () => {
    const inputs = decoderInputs(50, 1);
    expect(checkDecoderOutputs({ name: "ok", decode: (b) => (b.length ? b.toString("hex") : SKIP) }, inputs)).toEqual([]);
    expect(checkDecoderOutputs({ name: "thrower", decode: (b) => b.readUInt32LE(0).toString() }, inputs)[0]).toMatch(/decoder "thrower" on 0x .*threw/);
    const bad = { name: "number", decode: () => 7 } as unknown as Decoder;
    expect(checkDecoderOutputs(bad, inputs)[0]).toMatch(/returned number 7/);
  });
});

describe("the fuzz inputs", () => {
  it("are the same for the same seed and differ for another", () => {
    expect(decoderInputs(300, 7)).toEqual(decoderInputs(300, 7));
    expect(decoderInputs(300, 7)).not.toEqual(decoderInputs(300, 8));
    expect(targetMutations(["syscalls/sys_enter_execve"], 50, 3)).toEqual(targetMutations(["syscalls/sys_enter_execve"], 50, 3));
    expect(seededRandom(1)()).toBeGreaterThanOrEqual(0);
  });

  it("start with the edge cases: empty input and the key sizes", () => {
    const inputs = decoderInputs(300, 1);
    expect(inputs).toHaveLength(300);
    expect(inputs[0]).toEqual(Buffer.alloc(0));
    expect(inputs.slice(1, 11).map((b) => b.length)).toEqual([1, 1, 2, 2, 4, 4, 8, 8, 16, 16]);
  });

  it("never repeat a valid target among the mutations", () => {
    const valid = ["a/b", "c:d"];
    expect(targetMutations(valid, 100, 1).filter((t) => valid.includes(t))).toEqual([]);
  });
});
