import { describe, expect, it } from "vitest";
import { parseManifests } from "./manifest.js";

const good = (name: string, namespace?: string) => `apiVersion: observability.cloud/v1
kind: EbpfMap
metadata:
  name: ${name}${namespace ? `\n  namespace: ${namespace}` : ""}
spec:
  name: x
  type: tracepoint
  target: syscalls/sys_enter_execve
  program: p
  map: m
  code: "int x;"
`;

describe("parseManifests", () => {
  it("reads several documents and defaults the namespace to default", () => {
    const result = parseManifests(`${good("a")}---\n${good("b", "team-a")}`, "x.yaml");
    expect(result.problems).toEqual([]);
    expect(result.resources.map((r) => r.ref)).toEqual([
      { namespace: "default", name: "a" },
      { namespace: "team-a", name: "b" },
    ]);
  });

  it("reports invalid YAML with its line and keeps reading the other documents", () => {
    const result = parseManifests(`${good("a")}---\nkind: EbpfMap\nmetadata: [unclosed\n---\n${good("c")}`, "bad.yaml");
    expect(result.resources.map((r) => r.ref.name)).toEqual(["a", "c"]);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatchObject({ code: "EOP_ERR_MANIFEST_YAML", document: 1 });
    expect(result.problems[0]!.message).toMatch(/^bad\.yaml: document 2, line \d+: invalid YAML/);
  });

  it("reports a schema violation with the resource and the field", () => {
    const result = parseManifests(good("a").replace("program: p", "program: 'not valid'"), "f.yaml");
    expect(result.resources).toEqual([]);
    expect(result.problems[0]).toMatchObject({ code: "EOP_ERR_MANIFEST_INVALID", ref: { namespace: "default", name: "a" } });
    expect(result.problems[0]!.message).toContain('EbpfMap "default/a"');
    expect(result.problems[0]!.message).toContain("spec.program");
  });

  it("skips documents of other kinds and empty documents", () => {
    const result = parseManifests(`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n---\n---\n${good("a")}`, "mixed.yaml");
    expect(result.skipped).toEqual([{ document: 0, kind: "Namespace" }]);
    expect(result.resources).toHaveLength(1);
  });

  it("returns nothing for an empty file", () => {
    expect(parseManifests("", "empty.yaml")).toEqual({ resources: [], problems: [], skipped: [] });
  });
});
