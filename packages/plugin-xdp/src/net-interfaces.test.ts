import { describe, expect, it } from "vitest";
import { selectInterfaces } from "./net-interfaces.js";

const available = [
  { name: "lo", ifindex: 1 },
  { name: "eth0", ifindex: 2 },
  { name: "veth1", ifindex: 7 },
  { name: "veth0", ifindex: 5 },
];

describe("selectInterfaces", () => {
  it.each([
    [["eth0"], [2]],
    [
      ["lo", "eth0"],
      [1, 2],
    ],
    [["veth*"], [5, 7]],
    [
      ["veth*", "veth0", "lo"],
      [5, 7, 1],
    ],
    [["*"], [1, 2, 5, 7]],
  ])("selects %j as ifindexes %j", (wanted, ifindexes) => {
    expect(selectInterfaces(wanted, available).map((i) => i.ifindex)).toEqual(ifindexes);
  });

  it("names the closest interfaces when a name does not exist", () => {
    expect(() => selectInterfaces(["eth1"], available)).toThrow(
      expect.objectContaining({ code: "EOP_ERR_TARGET_NOT_FOUND", message: expect.stringMatching(/interface "eth1" does not exist .*did you mean .*eth0/) }),
    );
  });

  it("says when a glob matches nothing", () => {
    expect(() => selectInterfaces(["vet*x"], available)).toThrow(
      expect.objectContaining({ code: "EOP_ERR_TARGET_NOT_FOUND", message: expect.stringMatching(/no interface matches "vet\*x".*did you mean/) }),
    );
  });

  it("lists the interfaces when nothing is close", () => {
    expect(() => selectInterfaces(["wlp3s0abcdef"], available)).toThrow(/interfaces: lo, eth0, veth1, veth0/);
  });
});
