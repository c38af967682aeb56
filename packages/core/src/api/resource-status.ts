/**
 * Per-resource status as the agent reports it (`/status`, logs, and in cluster mode the per-node
 * status object). Conditions follow apimachinery's rules: the transition time changes only when
 * a condition's status does.
 */
import type { ResourceRef } from "./manifest.js";

export type Phase = "Pending" | "Running" | "Degraded" | "Failed" | "Unsupported";

export const ConditionType = {
  Compiled: "Compiled",
  Loaded: "Loaded",
  Ready: "Ready",
} as const;

export const Reason = {
  Pending: "Pending",
  Compiled: "Compiled",
  CompileFailed: "CompileFailed",
  Loaded: "Loaded",
  Adopted: "Adopted",
  LoadFailed: "LoadFailed",
  KernelUnsupported: "KernelUnsupported",
  InvalidSpec: "InvalidSpec",
  /** The object breaks the resource's rules (a helper, map, program type, observe restriction). */
  ObjectRefused: "ObjectRefused",
  Serving: "Serving",
  RunningPreviousSpec: "RunningPreviousSpec",
} as const;

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  /** The generation of the object the condition was computed from (cluster mode). */
  observedGeneration?: number;
}

export interface ResourceStatus {
  namespace: string;
  name: string;
  /** The file the resource came from (standalone mode). */
  source?: string;
  phase: Phase;
  conditions: Condition[];
  lastError?: { code?: string; message: string; time: string };
  /** The loaded generation: its first program's id, and every program's attachments. */
  program?: { id: number; loadKey: string; pinDir: string; adopted: boolean; attachments: string[] };
  /** Every program of the resource (one for the flat spec), in spec order. */
  programs?: ProgramStatus[];
  /** `metadata.generation` of the spec last attempted (cluster mode). */
  observedGeneration?: number;
  /** Hash of the object last obtained for it. */
  objectHash?: string;
  metric?: string;
}

export interface ProgramStatus {
  /** The C function. */
  name: string;
  type: string;
  target: string;
  /** Kernel program id. */
  id: number;
  /** Its pin, in `program.pinDir`. */
  pin: string;
  attachments: string[];
}

export function newStatus(ref: ResourceRef, source?: string): ResourceStatus {
  return { namespace: ref.namespace, name: ref.name, source, phase: "Pending", conditions: [] };
}

/** Sets a condition; returns whether anything changed (so no-op updates can be skipped). */
export function setCondition(conditions: Condition[], update: Omit<Condition, "lastTransitionTime">, now: Date = new Date()): boolean {
  const existing = conditions.find((c) => c.type === update.type);
  if (!existing) {
    conditions.push({ ...update, lastTransitionTime: now.toISOString() });
    return true;
  }
  const changed =
    existing.status !== update.status ||
    existing.reason !== update.reason ||
    existing.message !== update.message ||
    existing.observedGeneration !== update.observedGeneration;
  if (existing.status !== update.status) existing.lastTransitionTime = now.toISOString();
  existing.status = update.status;
  existing.reason = update.reason;
  existing.message = update.message;
  if (update.observedGeneration === undefined) delete existing.observedGeneration;
  else existing.observedGeneration = update.observedGeneration;
  return changed;
}
