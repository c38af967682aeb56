import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);
const readme = readFileSync(new URL("README.md", root), "utf8");

describe("README", () => {
  it("shows examples/quick-start.yaml verbatim as the quick-start manifest", () => {
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
    const manifest = readFileSync(new URL("examples/quick-start.yaml", root), "utf8");
    expect(blocks).toContain(manifest);
  });

  it("names the two commands", () => {
    expect(readme).toContain("npm run demo");
    expect(readme).toContain("npm test");
  });
});
