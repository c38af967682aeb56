import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" || entry.name === "dist" ? [] : sourceFiles(path);
    return path.endsWith(".ts") && !path.endsWith(".test.ts") ? [path] : [];
  });
}

const CODE = /EOP_ERR_[A-Z0-9_]+[A-Z0-9]/g;

describe("docs/errors.md", () => {
  const packages = join(root, "packages");
  const used = new Set(
    readdirSync(packages).flatMap((p) => sourceFiles(join(packages, p, "src")).flatMap((f) => readFileSync(f, "utf8").match(CODE) ?? [])),
  );
  const documented = new Set((readFileSync(join(root, "docs/errors.md"), "utf8").match(/^\| `(EOP_ERR_[A-Z0-9_]+)`/gm) ?? []).map((l) => l.slice(3, -1)));

  it("documents every error code the code raises", () => {
    expect([...used].filter((c) => !documented.has(c)).sort()).toEqual([]);
  });

  it("documents no code that nothing raises", () => {
    expect([...documented].filter((c) => !used.has(c)).sort()).toEqual([]);
  });
});
