// The shipped examples (the README's quick start among them) under the loader's enforcement for
// the default policy grant: observe mode, the observe helper set, the default quotas. Compiled
// by the real clang, inspected, their kernel types from the real plugins; no kernel needed. A
// helper or map type moved out of the observe set, or a quota tightened, that breaks an example
// fails here before it breaks a tenant.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PluginRegistry, checkObjectAgainst, enforcementForPolicy, inspectObject, parseManifests, plannedPrograms } from "@ebpf-operator/core";
import { compileObject } from "../../packages/core/src/inspect/test-objects.js";
import { cgroupPlugin } from "../../packages/plugin-cgroup/src/cgroup-plugin.js";
import { fentryPlugin } from "../../packages/plugin-fentry/src/index.js";
import { rawTracepointPlugin } from "../../packages/plugin-raw-tracepoint/src/index.js";
import { kprobePlugin } from "../../packages/plugin-kprobe/src/index.js";
import { socketPlugin } from "../../packages/plugin-socket/src/index.js";
import { tracepointPlugin } from "../../packages/plugin-tracepoint/src/tracepoint-plugin.js";
import { xdpPlugin } from "../../packages/plugin-xdp/src/xdp-plugin.js";
import { uprobePlugin } from "../../examples/plugin-uprobe/src/index.js";

const registry = new PluginRegistry();
for (const plugin of [cgroupPlugin, fentryPlugin, kprobePlugin, rawTracepointPlugin, socketPlugin, tracepointPlugin, xdpPlugin, uprobePlugin])
  registry.register(plugin);

// The default policy's quotas (docs/tenancy.md): what a namespace no policy selects gets.
const DEFAULT = enforcementForPolicy({
  helpers: { sets: ["observe"] },
  verdictMode: "observe",
  quotas: { instructions: 100_000, mapEntries: 65_536, mapBytesPerEbpfMap: 16 << 20 },
});

const examplesDir = join(import.meta.dirname, "../../examples");
const examples = readdirSync(examplesDir).filter((f) => f.endsWith(".yaml"));

describe("the examples under the default policy grant", () => {
  it("are all here", () => expect(examples.length).toBeGreaterThanOrEqual(9));

  for (const file of examples) {
    it(`${file} passes the default grant's rules`, async () => {
      const parsed = parseManifests(readFileSync(join(examplesDir, file), "utf8"), file);
      expect(parsed.problems).toEqual([]);
      for (const { resource } of parsed.resources) {
        const bytes = await compileObject(resource.spec.code, `examples/${file}`);
        const attached = await plannedPrograms(registry, resource.spec, bytes);
        // Every program of a multi-program example, each with its kernel type.
        expect(attached.length).toBeGreaterThan(0);
        for (const a of attached) expect(a.type, a.name).not.toBe("unknown");
        const violations = checkObjectAgainst(inspectObject(bytes, { source: resource.spec.code }), DEFAULT.rules!, { attached, possibleCpus: 64 });
        expect(violations.map((v) => v.message)).toEqual([]);
      }
    });
  }
});
