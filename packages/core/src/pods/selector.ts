/**
 * `spec.selector`: which of the EbpfMap's own namespace's pods a pod-scoped program runs for.
 * `matchLabels` and `matchExpressions` have `metav1.LabelSelector`'s meaning (all must hold;
 * `{}` selects every pod of the namespace); `container` narrows each pod to one container.
 */
import type { PodInfo } from "./pod-source.js";

export interface LabelRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: readonly string[];
}

export interface PodSelector {
  matchLabels?: Readonly<Record<string, string>>;
  matchExpressions?: readonly LabelRequirement[];
  container?: string;
}

export function matchesLabels(selector: PodSelector, labels: Readonly<Record<string, string>>): boolean {
  // Own properties only: a label key may be "constructor" or "__proto__".
  const has = (key: string) => Object.prototype.hasOwnProperty.call(labels, key);
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (!has(key) || labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const present = has(key);
    if (operator === "Exists" && !present) return false;
    if (operator === "DoesNotExist" && present) return false;
    if (operator === "In" && !(present && values.includes(labels[key]!))) return false;
    if (operator === "NotIn" && present && values.includes(labels[key]!)) return false;
  }
  return true;
}

/**
 * The pods a resource in `namespace` selects: never another namespace's, whatever the labels
 * say; a pod being deleted is no longer selected. (A finished pod's cgroup is gone, so discovery
 * drops it without its phase, which metadata does not carry.)
 */
export function selectPods(pods: readonly PodInfo[], namespace: string, selector: PodSelector): PodInfo[] {
  return pods.filter((pod) => pod.namespace === namespace && !pod.deleting && matchesLabels(selector, pod.labels));
}
