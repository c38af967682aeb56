import { describe, expect, it } from "vitest";
import { setCondition, type Condition } from "./resource-status.js";

describe("setCondition", () => {
  const t0 = new Date("2026-01-01T00:00:00Z");
  const t1 = new Date("2026-01-01T00:01:00Z");

  it("adds a condition with the transition time", () => {
    const conditions: Condition[] = [];
    expect(setCondition(conditions, { type: "Ready", status: "True", reason: "Serving", message: "m" }, t0)).toBe(true);
    expect(conditions).toEqual([{ type: "Ready", status: "True", reason: "Serving", message: "m", lastTransitionTime: t0.toISOString() }]);
  });

  it("keeps the transition time when only the message changes, and reports the change", () => {
    const conditions: Condition[] = [];
    setCondition(conditions, { type: "Ready", status: "True", reason: "Serving", message: "m" }, t0);
    expect(setCondition(conditions, { type: "Ready", status: "True", reason: "Serving", message: "n" }, t1)).toBe(true);
    expect(conditions[0]!.lastTransitionTime).toBe(t0.toISOString());
  });

  it("moves the transition time when the status changes", () => {
    const conditions: Condition[] = [];
    setCondition(conditions, { type: "Ready", status: "True", reason: "Serving", message: "m" }, t0);
    setCondition(conditions, { type: "Ready", status: "False", reason: "LoadFailed", message: "x" }, t1);
    expect(conditions[0]).toMatchObject({ status: "False", lastTransitionTime: t1.toISOString() });
  });

  it("reports no change for an identical update", () => {
    const conditions: Condition[] = [];
    setCondition(conditions, { type: "Ready", status: "True", reason: "Serving", message: "m" }, t0);
    expect(setCondition(conditions, { type: "Ready", status: "True", reason: "Serving", message: "m" }, t1)).toBe(false);
  });
});
