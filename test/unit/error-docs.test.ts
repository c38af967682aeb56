import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, isErrorCode, type ErrorCode } from "../../packages/core/src/errors.js";

const root = new URL("../../", import.meta.url).pathname;

/** docs/errors.md's table: code -> the fault column. */
function documented(): Map<string, string> {
  const rows = readFileSync(`${root}docs/errors.md`, "utf8").match(/^\| `EOP_ERR_[A-Z0-9_]+` \| [a-z]+ \|/gm) ?? [];
  return new Map(
    rows.map((row) => {
      const [, code, fault] = /^\| `([A-Z0-9_]+)` \| ([a-z]+) \|/.exec(row)!;
      return [code!, fault!];
    }),
  );
}

describe("docs/errors.md and the error registry", () => {
  const docs = documented();
  const registry = Object.keys(ERROR_CODES) as ErrorCode[];

  it("documents every code of the registry, with the registry's fault", () => {
    expect(
      registry
        .filter((code) => docs.get(code) !== ERROR_CODES[code].fault)
        .map((code) => `${code}: docs say ${docs.get(code) ?? "nothing"}, registry ${ERROR_CODES[code].fault}`),
    ).toEqual([]);
  });

  it("documents no code the registry lacks", () => {
    expect([...docs.keys()].filter((code) => !isErrorCode(code))).toEqual([]);
  });

  it("gives every code a meaning and a fault", () => {
    for (const code of registry) {
      expect(ERROR_CODES[code].meaning.length, code).toBeGreaterThan(10);
      expect(["spec", "system"], code).toContain(ERROR_CODES[code].fault);
    }
  });
});
