import type { V1Node } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { summarizeNodes } from "./node-selection.js";
import type { EbpfMapObject, NodeStatusObject } from "./types.js";

const node = (name: string, labels: Record<string, string> = {}): V1Node => ({ metadata: { name, labels } });

function resource(namespace: string, name: string, generation = 1): EbpfMapObject {
  return {
    metadata: { namespace, name, generation },
    spec: { type: "tracepoint", target: "syscalls/sys_enter_execve", program: "p", map: "m", code: "" } as EbpfMapObject["spec"],
  };
}

function report(namespace: string, ebpfMap: string, nodeName: string, phase: string, generation = 1, message?: string): NodeStatusObject {
  return {
    metadata: { namespace, name: `${ebpfMap}.${nodeName}` },
    spec: { ebpfMap, nodeName },
    status: { phase, observedGeneration: generation, objectHash: "h", ...(message ? { lastError: { message, time: "t" } } : {}) } as NodeStatusObject["status"],
  };
}

describe("summarizeNodes", () => {
  it("counts a node ready only on a Running report of the current generation and object", () => {
    const summary = summarizeNodes(
      resource("a", "x", 2),
      [node("n1"), node("n2"), node("n3")],
      [report("a", "x", "n1", "Running", 2), report("a", "x", "n2", "Running", 1)],
      "h",
    );
    expect(summary).toEqual({ selected: ["n1", "n2", "n3"], ready: ["n1"], failed: [], pending: ["n2", "n3"] });
  });

  it("ignores reports of an EbpfMap with the same name in another namespace", () => {
    // Tenant b's "x" fails on n1 and runs on n2; tenant a's "x" has reported nothing yet.
    const others = [report("b", "x", "n1", "Failed", 1, "b's secret error text"), report("b", "x", "n2", "Running", 1)];
    const summary = summarizeNodes(resource("a", "x"), [node("n1"), node("n2")], others, "h");
    expect(summary).toEqual({ selected: ["n1", "n2"], ready: [], failed: [], pending: ["n1", "n2"] });
  });

  it("names a failing node with the report's message, and skips nodes the selector leaves out", () => {
    const selected = { ...resource("a", "x"), spec: { ...resource("a", "x").spec, nodeSelector: { role: "web" } } };
    const summary = summarizeNodes(selected, [node("n1", { role: "web" }), node("n2")], [report("a", "x", "n1", "Failed", 1, "attach failed")], "h");
    expect(summary.selected).toEqual(["n1"]);
    expect(summary.failed).toEqual([{ node: "n1", phase: "Failed", code: undefined, message: "attach failed" }]);
  });
});
