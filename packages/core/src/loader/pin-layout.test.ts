import { describe, expect, it } from "vitest";
import { programLinkPins } from "./pin-layout.js";
import { loadKeyOf } from "./program-loader.js";

describe("programLinkPins", () => {
  it("finds one program's links by index order, never another program's whose name extends it", () => {
    const entries = ["link_foo_10", "link_foo_2", "link_foo_1_0", "link_foo_bar_0", "link_0", "map_x", "prog_foo", "program"];
    expect(programLinkPins(entries, "foo")).toEqual(["link_foo_2", "link_foo_10"]);
    expect(programLinkPins(entries, "foo_1")).toEqual(["link_foo_1_0"]);
    expect(programLinkPins(entries, "foo_bar")).toEqual(["link_foo_bar_0"]);
  });
});

describe("loadKeyOf", () => {
  const flat = { type: "tracepoint", target: "raw_syscalls/sys_enter", program: "count" };

  it("keys one program in spec.programs exactly as the flat spec, so older pins are adopted", () => {
    expect(loadKeyOf({ programs: [flat] }, "abc")).toBe(loadKeyOf(flat, "abc"));
  });

  it("changes with any program's type, target or function, their order, or the object", () => {
    const pair = [flat, { type: "tracepoint", target: "raw_syscalls/sys_exit", program: "done" }];
    const key = loadKeyOf({ programs: pair }, "abc");
    expect(loadKeyOf({ programs: [pair[1]!, pair[0]!] }, "abc")).not.toBe(key);
    expect(loadKeyOf({ programs: [pair[0]!, { ...pair[1]!, target: "raw_syscalls/sys_enter" }] }, "abc")).not.toBe(key);
    expect(loadKeyOf({ programs: pair }, "abd")).not.toBe(key);
    expect(loadKeyOf({ programs: [flat] }, "abc")).not.toBe(key);
  });
});

describe("pod link pins", () => {
  it("name a pod's links by its UID and are read back; other entries are not pod links", async () => {
    const { podLinkPinName, podOfLinkPin, isPodLinkPin } = await import("./pin-layout.js");
    const uid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    expect(podLinkPinName(uid, 0, 1)).toBe(`pod_${uid}_0_1`);
    expect(podOfLinkPin(`pod_${uid}_0_1`)).toBe(uid);
    expect(podOfLinkPin("link_0")).toBeUndefined();
    expect(podOfLinkPin("map_pod_x")).toBeUndefined();
    expect(isPodLinkPin(`pod_${uid}_2_0`)).toBe(true);
    expect(isPodLinkPin(`pod_${uid}`)).toBe(false);
  });

  it("refuse a UID that could leave the directory or collide with other pins", async () => {
    const { podLinkPinName } = await import("./pin-layout.js");
    expect(() => podLinkPinName("../x", 0, 0)).toThrow(/cannot name a pin/);
    expect(() => podLinkPinName("a_b", 0, 0)).toThrow(/cannot name a pin/);
  });
});

describe("loadKeyOf and pod scope", () => {
  it("makes a pod-scoped resource a generation of its own, and leaves node-wide keys as they were", () => {
    const spec = { type: "cgroup", target: "cgroup/skb/egress:/", program: "count_egress" };
    const nodeWide = loadKeyOf(spec, "h");
    expect(loadKeyOf({ ...spec, selector: { matchLabels: { app: "web" } } }, "h")).not.toBe(nodeWide);
    expect(loadKeyOf({ ...spec, selector: {} }, "h")).toBe(loadKeyOf({ ...spec, selector: { matchLabels: { app: "db" } } }, "h"));
    expect(loadKeyOf({ ...spec }, "h")).toBe(nodeWide);
  });
});

describe("per-pod gate link pins", () => {
  it("number a target's links from its key, so an adopting agent groups them by target", async () => {
    const { gateLinkNumber, podLinkPinName, podLinkPinParts } = await import("./pin-layout.js");
    const uid = "0b1c2d3e-aaaa-bbbb-cccc-0123456789ab";
    const n0 = gateLinkNumber("2049:1234", 0);
    const n1 = gateLinkNumber("2049:1234", 1);
    expect(Number.isSafeInteger(n0)).toBe(true);
    expect(Math.floor(n0 / 16)).toBe(Math.floor(n1 / 16));
    expect(n1 - n0).toBe(1);
    expect(Math.floor(gateLinkNumber("2049:1235", 0) / 16)).not.toBe(Math.floor(n0 / 16));
    expect(gateLinkNumber("2049:1234", 0)).toBe(n0); // stable across runs
    expect(podLinkPinParts(podLinkPinName(uid, 2, n1))).toEqual({ uid, program: 2, n: n1 });
    expect(podLinkPinParts("link_0")).toBeUndefined();
    expect(() => gateLinkNumber("k", 16)).toThrow(/at most 16/);
  });
});
