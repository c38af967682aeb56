import { describe, expect, it } from "vitest";
import { SKIP, type Decoder } from "../plugin/sdk.js";
import { CORE_DECODERS, DecoderRegistry, runChain } from "./registry.js";
import { leBytes } from "./test-support.js";

const xdpAction: Decoder = { name: "xdp_action", decode: (input) => ["ABORTED", "DROP", "PASS"][input[0]!] ?? "unknown" };

describe("CORE_DECODERS", () => {
  it("is keyed by each decoder's own name", () => {
    for (const [key, decoder] of Object.entries(CORE_DECODERS)) expect(decoder.name).toBe(key);
  });
  it("holds the generic decoders core owns", () => {
    expect(Object.keys(CORE_DECODERS).sort()).toEqual(
      [
        "cgroup",
        "cgroup_container",
        "cgroup_namespace",
        "cgroup_pod",
        "container",
        "errno",
        "hex",
        "ifname",
        "inet_ip",
        "int",
        "ksym",
        "majorminor",
        "pod",
        "port",
        "regexp",
        "static_map",
        "string",
        "syscall",
        "uint",
      ].sort(),
    );
  });
});

describe("DecoderRegistry", () => {
  it("adds a plugin's program-type-specific decoders", () => {
    const registry = new DecoderRegistry();
    expect(registry.registerPlugin("plugin-xdp", [xdpAction])).toEqual([]);
    expect(registry.get("xdp_action")).toBe(xdpAction);
    expect(registry.names()).toContainEqual({ name: "xdp_action", owner: "plugin-xdp" });
  });

  it.each([
    ["a core name", { name: "ifname", decode: () => "x" }, /is a core decoder/],
    ["an invalid name", { name: "Bad Name", decode: () => "x" }, /not a valid decoder/],
    ["no decode function", { name: "ok_name" } as unknown as Decoder, /not a valid decoder/],
  ])("refuses and reports a plugin decoder with %s", (_what, decoder, message) => {
    const registry = new DecoderRegistry();
    const refused = registry.registerPlugin("plugin-x", [decoder]);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.code).toBe("EOP_ERR_DECODER_CONFLICT");
    expect(refused[0]!.message).toMatch(message);
    expect(registry.conflicts).toEqual(refused);
    if (decoder.name === "ifname") expect(registry.get("ifname")).toBe(CORE_DECODERS.ifname);
  });

  it("refuses a second plugin's decoder of the same name, naming the first plugin", () => {
    const registry = new DecoderRegistry();
    registry.registerPlugin("plugin-xdp", [xdpAction]);
    const [refused] = registry.registerPlugin("plugin-tc", [{ ...xdpAction }]);
    expect(refused?.message).toContain('already registered by plugin "plugin-xdp"');
    expect(registry.get("xdp_action")).toBe(xdpAction);
  });

  it("resolves a chain and reports unknown names and bad options with the field", () => {
    const registry = new DecoderRegistry();
    expect(registry.chain([{ name: "uint" }, { name: "syscall" }], "f")).toHaveLength(2);
    expect(() => registry.chain([{ name: "nope" }], "spec.metrics[0].labels[0].decoders")).toThrow(
      /spec.metrics\[0\].labels\[0\].decoders\[0\]: no decoder named "nope" \(available: cgroup, cgroup_container, cgroup_namespace, cgroup_pod, container, errno/,
    );
    expect(() => registry.chain([{ name: "regexp" }], "f")).toThrow(/f\[0\]: decoder "regexp" needs "pattern"/);
  });
});

describe("runChain", () => {
  const registry = new DecoderRegistry();
  registry.registerPlugin("bad", [
    {
      name: "throws",
      decode: () => {
        throw new Error("boom");
      },
    },
  ]);
  it.each([
    [[{ name: "uint" }, { name: "syscall" }], leBytes(59, 4), "execve"],
    [[{ name: "uint" }, { name: "static_map", values: { "1": "one" } }], leBytes(1, 2), "one"],
    [[{ name: "string" }, { name: "regexp", pattern: "^b" }], Buffer.from("bash\0"), "bash"],
    [[{ name: "string" }, { name: "regexp", pattern: "^b" }], Buffer.from("zsh\0"), SKIP],
    [[{ name: "throws" }], Buffer.from([1]), "unknown:0x01"],
    [[], Buffer.from("raw"), "raw"],
  ])("runs %o over the bytes", (configs, input, expected) => {
    expect(runChain(registry.chain(configs, "f"), input)).toBe(expected);
  });
});
