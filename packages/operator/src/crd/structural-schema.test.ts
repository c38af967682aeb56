import { Type } from "@sinclair/typebox";
import { describe, expect, it } from "vitest";
import { toStructuralSchema } from "./structural-schema.js";

describe("toStructuralSchema", () => {
  it("turns a union of literals into an enum", () => {
    expect(toStructuralSchema(Type.Union([Type.Literal("counter"), Type.Literal("gauge")], { default: "counter" }))).toEqual({
      default: "counter",
      type: "string",
      enum: ["counter", "gauge"],
    });
  });

  it("turns a Record into additionalProperties and drops additionalProperties: false", () => {
    const schema = Type.Object({ labels: Type.Record(Type.String(), Type.String()) }, { additionalProperties: false });
    expect(toStructuralSchema(schema)).toEqual({
      type: "object",
      required: ["labels"],
      properties: { labels: { type: "object", additionalProperties: { type: "string" } } },
    });
  });

  it("writes uniqueItems as a set list (the API server refuses uniqueItems)", () => {
    expect(toStructuralSchema(Type.Array(Type.String(), { maxItems: 2, uniqueItems: true }))).toEqual({
      type: "array",
      maxItems: 2,
      "x-kubernetes-list-type": "set",
      items: { type: "string" },
    });
  });

  it("writes numeric exclusive bounds the OpenAPI v3 way", () => {
    expect(toStructuralSchema(Type.Number({ exclusiveMinimum: 0 }))).toEqual({ type: "number", minimum: 0, exclusiveMinimum: true });
  });

  it("keeps allOf of required-only anyOf groups and refuses typed members", () => {
    const groups = [{ anyOf: [{ required: ["a"] }, { required: ["b"] }] }, { anyOf: [{ required: ["c"] }, { required: ["d"] }] }];
    expect(toStructuralSchema({ type: "object", allOf: groups })).toEqual({ type: "object", allOf: groups });
    expect(() => toStructuralSchema({ type: "object", allOf: [{ type: "string" }] })).toThrow(/allOf members/);
    expect(() => toStructuralSchema({ type: "object", allOf: [{ anyOf: [{ properties: { a: {} } }] }] })).toThrow(/allOf members/);
  });

  it("keeps required-only anyOf branches and refuses typed ones", () => {
    expect(toStructuralSchema({ type: "object", anyOf: [{ required: ["a"] }, { required: ["b"] }] })).toEqual({
      type: "object",
      anyOf: [{ required: ["a"] }, { required: ["b"] }],
    });
    expect(() => toStructuralSchema({ anyOf: [{ type: "string" }, { type: "integer" }] })).toThrow(/not structural/);
  });

  it("refuses keywords it cannot translate, naming the path", () => {
    expect(() => toStructuralSchema({ type: "object", properties: { x: { type: "string", if: {} } } })).toThrow(/spec\.x: schema keyword "if"/);
  });
});
