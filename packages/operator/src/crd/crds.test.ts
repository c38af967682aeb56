import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderCrds } from "./generate.js";

describe("deploy/crds", () => {
  it.each(Object.entries(renderCrds()))("%s matches the schema (regenerate with: npm run generate -w @ebpf-operator/operator)", (file, text) => {
    const committed = readFileSync(new URL(`../../../../deploy/crds/${file}`, import.meta.url), "utf8");
    expect(committed).toBe(text);
  });
});
