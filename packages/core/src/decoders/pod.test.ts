import { describe, expect, it } from "vitest";
import { SKIP } from "../plugin/sdk.js";
import { createPodDecoder, pod } from "./pod.js";
import { DecoderRegistry, runChain } from "./registry.js";

const le64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};

describe("pod decoder", () => {
  const table = new Map<bigint, string>([
    [101n, "web-1"],
    [102n, "web-1"],
    [201n, "web-2"],
  ]);
  const decoder = createPodDecoder((id) => table.get(id));

  it("names the selected pod of a cgroup id (the pod's own or a container's)", () => {
    expect(decoder.decode(Buffer.from("101"), {})).toBe("web-1");
    expect(decoder.decode(Buffer.from("102"), {})).toBe("web-1");
    expect(decoder.decode(Buffer.from("201"), {})).toBe("web-2");
  });

  it("drops the row of any other id, and of input that is not an id: unknown ids never become series", () => {
    expect(decoder.decode(Buffer.from("999"), {})).toBe(SKIP);
    expect(decoder.decode(Buffer.from("web-1"), {})).toBe(SKIP);
    expect(decoder.decode(Buffer.from(""), {})).toBe(SKIP);
  });

  it("drops every row in core's registry (no pods there), and a derived registry reads the resource's table", () => {
    expect(pod.decode(Buffer.from("101"), {})).toBe(SKIP);
    const core = new DecoderRegistry();
    const derived = core.derive([decoder]);
    const config = [{ name: "uint" }, { name: "pod" }];
    expect(runChain(core.chain(config, "f"), le64(101n))).toBe(SKIP);
    expect(runChain(derived.chain(config, "f"), le64(101n))).toBe("web-1");
    expect(runChain(derived.chain([{ name: "uint" }], "f"), le64(7n))).toBe("7");
    expect(core.get("pod")).toBe(pod);
  });
});
