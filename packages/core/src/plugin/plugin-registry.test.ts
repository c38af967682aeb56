import { describe, expect, it } from "vitest";
import { checkPluginExport } from "./plugin-check.js";
import { importPlugin } from "./plugin-import.js";
import { PluginRegistry } from "./plugin-registry.js";
import { PLUGIN_API_VERSION, definePlugin, type ProgramTypePlugin } from "./sdk.js";

function fakePlugin(name: string, programTypes: string[], apiVersion = PLUGIN_API_VERSION): ProgramTypePlugin<string> {
  // Pure registry logic: nothing here touches the kernel.
  return definePlugin<string>({
    meta: { name, version: "1.0.0", apiVersion, programTypes },
    targetSchema: { type: "string", pattern: "^[a-z]+$" },
    parseTarget: (_type, target) => target,
    detectSupport: async () => ({ supported: true }),
    prepare: () => undefined,
    attach: async () => [],
  });
}

describe("checkPluginExport", () => {
  it("accepts a default export and a named `plugin` export", () => {
    const plugin = fakePlugin("p", ["a"]);
    expect(checkPluginExport({ default: plugin }, "p")).toBe(plugin);
    expect(checkPluginExport({ plugin }, "p")).toBe(plugin);
  });

  it("refuses a module without a plugin export", () => {
    expect(() => checkPluginExport({ somethingElse: 1 }, "pkg")).toThrow(expect.objectContaining({ code: "EOP_ERR_PLUGIN_INVALID" }));
  });

  it("refuses another plugin-API version, naming both versions", () => {
    expect(() => checkPluginExport({ default: fakePlugin("p", ["a"], 2) }, "p")).toThrow(
      expect.objectContaining({ code: "EOP_ERR_PLUGIN_API_VERSION", message: expect.stringContaining("v2; this core implements v1") }),
    );
  });

  it("lists every problem with the metadata", () => {
    const broken = { ...fakePlugin("p", ["a"]), meta: { name: "", version: 1, apiVersion: 1, programTypes: [] } };
    expect(() => checkPluginExport({ default: broken }, "p")).toThrow(/meta.name .*meta.version .*meta.programTypes/);
  });

  it("refuses a plugin without attach()", () => {
    const { attach: _attach, ...rest } = fakePlugin("p", ["a"]);
    expect(() => checkPluginExport({ default: rest }, "p")).toThrow(/does not implement attach\(\)/);
  });
});

describe("importPlugin", () => {
  it("reports a package that cannot be imported instead of throwing", async () => {
    const outcome = await importPlugin("@ebpf-operator/no-such-plugin");
    expect(outcome.plugin).toBeUndefined();
    expect(outcome.error?.code).toBe("EOP_ERR_PLUGIN_LOAD");
    expect(outcome.error?.message).toContain("@ebpf-operator/no-such-plugin");
  });

  it("reports a module that throws while loading", async () => {
    const outcome = await importPlugin("x", async () => {
      throw new Error("boom at import");
    });
    expect(outcome.error?.message).toContain("boom at import");
  });
});

describe("PluginRegistry", () => {
  it("finds the plugin for each program type it declares", () => {
    const registry = new PluginRegistry();
    const plugin = fakePlugin("k", ["kprobe", "kretprobe"]);
    registry.register(plugin);
    expect(registry.forType("kretprobe").plugin).toBe(plugin);
    expect(registry.programTypes()).toEqual(["kprobe", "kretprobe"]);
  });

  it("reports a second plugin claiming a taken type and keeps the first", () => {
    const registry = new PluginRegistry();
    const first = fakePlugin("first", ["xdp"]);
    registry.register(first);
    const report = registry.register(fakePlugin("second", ["xdp", "other"]));
    expect(report).toMatchObject({ loaded: false, error: { code: "EOP_ERR_PLUGIN_CONFLICT" } });
    expect(registry.forType("xdp").plugin).toBe(first);
    expect(() => registry.forType("other")).toThrow();
  });

  it("names the available types when none handles the requested one", () => {
    const registry = new PluginRegistry();
    registry.register(fakePlugin("t", ["tracepoint"]));
    expect(() => registry.forType("uprobe")).toThrow(/no plugin handles program type "uprobe" \(available: tracepoint\)/);
  });

  it("validates targets with the plugin's schema", () => {
    const registry = new PluginRegistry();
    registry.register(fakePlugin("t", ["tracepoint"]));
    const { validateTarget } = registry.forType("tracepoint");
    expect(validateTarget("abc")).toBe(true);
    expect(validateTarget("ABC/1")).toBe(false);
  });
});
