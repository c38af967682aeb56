import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createIfnameDecoder } from "./ifname.js";
import { leBytes } from "./test-support.js";

describe("ifname decoder", () => {
  const classNet = mkdtempSync(join(tmpdir(), "eop-net-"));
  const addInterface = (name: string, ifindex: number) => {
    mkdirSync(join(classNet, name));
    writeFileSync(join(classNet, name, "ifindex"), `${ifindex}\n`);
  };
  addInterface("lo", 1);
  addInterface("eth0", 2);
  afterAll(() => rmSync(classNet, { recursive: true, force: true }));

  it.each([
    [leBytes(1, 4), "lo"],
    [leBytes(2, 4), "eth0"],
    [leBytes(2, 8), "eth0"],
    [leBytes(77, 4), "unknown:77"],
    [Buffer.alloc(9), "unknown:0x000000000000000000"],
  ])("decodes %o as %s", (input, expected) => {
    expect(createIfnameDecoder({ classNet }).decode(input, {})).toBe(expected);
  });

  it("names an interface created after a miss once the negative entry expires", () => {
    let now = 0;
    const decoder = createIfnameDecoder({ classNet, negativeTtlMs: 100, now: () => now });
    expect(decoder.decode(leBytes(9, 4), {})).toBe("unknown:9");
    addInterface("veth9", 9);
    now = 100;
    expect(decoder.decode(leBytes(9, 4), {})).toBe("veth9");
  });

  it("names the loopback interface of this machine", () => {
    expect(createIfnameDecoder().decode(leBytes(1, 4), {})).toBe("lo");
  });
});
