import { describe, expect, it } from "vitest";
import type { PodInfo } from "./pod-source.js";
import { matchesLabels, selectPods } from "./selector.js";

const pod = (namespace: string, name: string, labels: Record<string, string>, deleting = false): PodInfo => ({
  uid: `${namespace}-${name}`,
  namespace,
  name,
  labels,
  deleting,
});

describe("selectPods", () => {
  const pods = [
    pod("alice", "web-1", { app: "web", tier: "front" }),
    pod("alice", "web-2", { app: "web", tier: "back", canary: "yes" }),
    pod("alice", "db-1", { app: "db" }),
    pod("alice", "web-3", { app: "web" }, true),
    pod("bob", "web-1", { app: "web", tier: "front" }),
  ];
  const names = (selected: PodInfo[]) => selected.map((p) => `${p.namespace}/${p.name}`);

  it("selects only the resource's own namespace's pods, whatever the labels say", () => {
    expect(names(selectPods(pods, "alice", { matchLabels: { app: "web" } }))).toEqual(["alice/web-1", "alice/web-2"]);
    expect(names(selectPods(pods, "bob", {}))).toEqual(["bob/web-1"]);
    expect(names(selectPods(pods, "carol", {}))).toEqual([]);
  });

  it("leaves out pods being deleted", () => {
    expect(names(selectPods(pods, "alice", {}))).toEqual(["alice/web-1", "alice/web-2", "alice/db-1"]);
  });

  it("ands matchLabels and every expression, with LabelSelector's operators", () => {
    expect(names(selectPods(pods, "alice", { matchExpressions: [{ key: "tier", operator: "In", values: ["front", "x"] }] }))).toEqual(["alice/web-1"]);
    expect(names(selectPods(pods, "alice", { matchExpressions: [{ key: "tier", operator: "NotIn", values: ["front"] }] }))).toEqual([
      "alice/web-2",
      "alice/db-1",
    ]);
    expect(names(selectPods(pods, "alice", { matchExpressions: [{ key: "canary", operator: "Exists" }] }))).toEqual(["alice/web-2"]);
    expect(names(selectPods(pods, "alice", { matchLabels: { app: "web" }, matchExpressions: [{ key: "canary", operator: "DoesNotExist" }] }))).toEqual([
      "alice/web-1",
    ]);
  });

  it("reads only a pod's own labels: keys like constructor or __proto__ are not inherited", () => {
    expect(matchesLabels({ matchExpressions: [{ key: "constructor", operator: "Exists" }] }, {})).toBe(false);
    expect(matchesLabels({ matchLabels: { toString: "x" } }, {})).toBe(false);
    expect(matchesLabels({ matchExpressions: [{ key: "__proto__", operator: "DoesNotExist" }] }, {})).toBe(true);
  });
});
