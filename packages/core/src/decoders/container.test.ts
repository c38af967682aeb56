import { describe, expect, it } from "vitest";
import { SKIP } from "../plugin/sdk.js";
import { container, createContainerDecoder } from "./container.js";
import { DecoderRegistry, runChain } from "./registry.js";

const le64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};

describe("container decoder", () => {
  const table = new Map<bigint, string>([
    [102n, "server"],
    [103n, "sidecar"],
  ]);
  const decoder = createContainerDecoder((id) => table.get(id));

  it("names the container of a cgroup id in the resource's table", () => {
    expect(decoder.decode(Buffer.from("102"), {})).toBe("server");
    expect(decoder.decode(Buffer.from("103"), {})).toBe("sidecar");
  });

  it("drops the row of any other id (the pod's own cgroup, the sandbox's, another pod's) and of input that is not an id", () => {
    expect(decoder.decode(Buffer.from("101"), {})).toBe(SKIP);
    expect(decoder.decode(Buffer.from("server"), {})).toBe(SKIP);
    expect(decoder.decode(Buffer.from(""), {})).toBe(SKIP);
  });

  it("drops every row in core's registry (no containers there), and a derived registry reads the resource's table", () => {
    expect(container.decode(Buffer.from("102"), {})).toBe(SKIP);
    const core = new DecoderRegistry();
    const config = [{ name: "uint" }, { name: "container" }];
    expect(runChain(core.chain(config, "f"), le64(102n))).toBe(SKIP);
    expect(runChain(core.derive([decoder]).chain(config, "f"), le64(102n))).toBe("server");
    expect(core.get("container")).toBe(container);
  });
});
