/**
 * What adoption relies on to tell whether a pinned pod's network gate is still the pod's: the
 * kernel's tag of a gate (which a program opened by id reports) changes with the cgroup id the
 * gate was built with, and not with the fd its program array had when it was loaded.
 */
import { describe, expect, it } from "vitest";
import { BpfMap, BpfProgram } from "@ebpf-operator/libbpf";
import { requireKernelCapabilities } from "../../../../test/helpers/kernel.js";
import { loadNetGate } from "./pod-net-gate.js";

requireKernelCapabilities();

describe("a network gate's kernel tag", () => {
  it("names the cgroup id it was built with, whatever program array fd it was loaded with", () => {
    for (const [slot, type] of [
      ["xdp_meta", "xdp"],
      ["skb_cb", "socket_filter"],
    ] as const) {
      // A program array takes programs of one type only (its first user's): two for each type.
      using first = BpfMap.create({ type: "prog_array", name: "gate_a", keySize: 4, valueSize: 4, maxEntries: 1 });
      using second = BpfMap.create({ type: "prog_array", name: "gate_b", keySize: 4, valueSize: 4, maxEntries: 1 });
      using gate = loadNetGate(slot, type, undefined, 4242n, first);
      using again = loadNetGate(slot, type, undefined, 4242n, second);
      using other = loadNetGate(slot, type, undefined, 4243n, first);
      using high = loadNetGate(slot, type, undefined, 4242n | (1n << 40n), first);
      expect(again.info().tag).toBe(gate.info().tag);
      expect(other.info().tag).not.toBe(gate.info().tag);
      expect(high.info().tag).not.toBe(gate.info().tag);
      // What adoption reads: the program an XDP link runs, opened by the id the link reports.
      using byId = BpfProgram.fromId(gate.info().id);
      expect(byId.info().tag).toBe(gate.info().tag);
    }
  });
});
