/**
 * What the loader enforces in the kernel for one resource, and the options a tenancy policy sets:
 *
 * - `rules`: the object is inspected from the bytes about to be loaded (never from a status) and
 *   checked (`checkObjectAgainst`); a violation refuses the load, naming the rule, the helper or
 *   map, and the source line.
 * - `verdictMode: "observe"`: every attached program's verdict is forced to "pass" (the exits of
 *   its entry function jump to an appended epilogue), after the observe checks (no tail calls,
 *   redirects, packet or context writes, enforce-only hooks).
 * - `tracingPrivileges`: whether programs of non-tracing types are verified with CAP_PERFMON and
 *   CAP_SYS_ADMIN in the loading thread's effective set. By default only tracing program types
 *   (which cannot load without CAP_PERFMON) are; XDP, socket and cgroup programs are loaded
 *   without them, so the verifier itself refuses kernel memory reads and pointer leaks.
 *
 * Without any option the loader still refuses what no resource may do: a map pinning value other
 * than LIBBPF_PIN_BY_NAME (which the loader contains in the resource's own generation directory)
 * and calls into no function.
 */
import { createHash } from "node:crypto";
import { endianness } from "node:os";
import type { Capability } from "@ebpf-operator/libbpf";
import type { ResourceRef } from "../api/manifest.js";
import type { EbpfMapSpec } from "../api/schema.js";
import { EbpfOperatorError } from "../errors.js";
import { OBSERVE_MAP_TYPES, TRACING_READ_HELPERS, isTracingProgramType, type HelperSetName } from "../inspect/helper-sets.js";
import { codeOf, mapBytes, type ObjectReport } from "../inspect/inspect-object.js";
import { OBSERVE_VERDICTS, rewriteExits } from "../inspect/observe-mode.js";
import { checkObjectAgainst, formatBytes, formatViolations, type CheckTarget, type ObjectRules, type VerdictMode, type Violation } from "../inspect/rules.js";

export interface LoadEnforcement {
  /** Checked against the object before anything is loaded; absent: only the baseline checks. */
  rules?: ObjectRules;
  /** Default: the rules' verdict mode, else `enforce`. */
  verdictMode?: VerdictMode;
  /** Load non-tracing program types with CAP_PERFMON and CAP_SYS_ADMIN (default false). */
  tracingPrivileges?: boolean;
  /**
   * Most map memory (the inspector's estimate, per-CPU values × the node's possible CPUs) that
   * all of the resource's namespace's programs on this node may hold together. The agent passes
   * what the namespace's other resources hold (`LoadRequest.namespaceMapBytesInUse`).
   */
  namespaceMapBytes?: number;
}

/** The policy's hook into the agent: what to enforce for a resource (undefined: the defaults). */
export type EnforcementResolver = (ref: ResourceRef, spec: EbpfMapSpec) => LoadEnforcement | undefined;

/**
 * What a tenancy policy grants a namespace, as far as the loader is concerned (the policy's
 * other fields — program types, target scopes, nodes, EbpfMap and series quotas — are decided
 * at admission, before anything reaches the loader). Structural, so the policy's own type
 * (`EffectivePolicy`) can be passed as it is.
 */
export interface EnforcementGrant {
  helpers: { sets: readonly HelperSetName[]; names?: readonly string[] };
  kfuncs?: readonly string[];
  verdictMode: VerdictMode;
  quotas?: {
    /** Most instructions per attached program, with its subprograms. */
    instructions?: number;
    /** Largest `max_entries` of any one map. */
    mapEntries?: number;
    /** Most map memory of one EbpfMap (all its object's maps). */
    mapBytesPerEbpfMap?: number;
    /** Most map memory of all of a namespace's EbpfMaps on one node. */
    mapBytesPerNamespacePerNode?: number;
  };
}

/** Map types that only make sense with a helper granted by name, added to the observe map types with it. */
const MAP_TYPES_WITH_HELPER: ReadonlyMap<string, readonly string[]> = new Map([
  ["bpf_tail_call", ["prog_array"]],
  ["bpf_redirect_map", ["devmap", "devmap_hash", "cpumap", "xskmap"]],
  ["bpf_sk_redirect_map", ["sockmap"]],
  ["bpf_sk_redirect_hash", ["sockhash"]],
  ["bpf_msg_redirect_map", ["sockmap"]],
  ["bpf_msg_redirect_hash", ["sockhash"]],
  ["bpf_sk_storage_get", ["sk_storage"]],
  ["bpf_task_storage_get", ["task_storage"]],
  ["bpf_inode_storage_get", ["inode_storage"]],
  ["bpf_get_local_storage", ["cgroup_storage", "percpu_cgroup_storage"]],
]);

/**
 * The loader's enforcement for a namespace's policy: its helper grant, kfuncs, verdict mode and
 * object quotas as rules; the per-node namespace memory budget; tracing privileges for
 * non-tracing program types only with the `any` set or a tracing read granted by name (the
 * verifier would refuse those helpers otherwise, whatever the rules allow).
 */
export function enforcementForPolicy(grant: EnforcementGrant): LoadEnforcement {
  const any = grant.helpers.sets.includes("any");
  const names = grant.helpers.names ?? [];
  const quotas = grant.quotas ?? {};
  const mapTypes = any ? undefined : [...new Set([...OBSERVE_MAP_TYPES, ...names.flatMap((n) => MAP_TYPES_WITH_HELPER.get(n) ?? [])])];
  const rules: ObjectRules = {
    verdictMode: grant.verdictMode,
    helpers: { sets: grant.helpers.sets, names },
    kfuncs: any ? "any" : (grant.kfuncs ?? []),
    ksyms: any ? "any" : [],
    maps: {
      ...(mapTypes ? { types: mapTypes } : {}),
      ...(quotas.mapEntries !== undefined ? { maxEntries: quotas.mapEntries } : {}),
      ...(quotas.mapBytesPerEbpfMap !== undefined ? { maxBytesTotal: quotas.mapBytesPerEbpfMap } : {}),
    },
    ...(quotas.instructions !== undefined ? { maxInstructions: quotas.instructions } : {}),
    extraPrograms: "allow",
  };
  return {
    rules,
    verdictMode: grant.verdictMode,
    tracingPrivileges: any || names.some((n) => TRACING_READ_HELPERS.has(n)),
    ...(quotas.mapBytesPerNamespacePerNode !== undefined ? { namespaceMapBytes: quotas.mapBytesPerNamespacePerNode } : {}),
  };
}

/** Capabilities a tenant's non-tracing program is verified without. */
export const TRACING_CAPABILITIES: readonly Capability[] = ["CAP_SYS_ADMIN", "CAP_PERFMON"];

/** The rules every load is checked against, whatever the policy says. */
const BASELINE_RULES: ObjectRules = {
  verdictMode: "enforce",
  helpers: { sets: ["any"] },
  kfuncs: "any",
  ksyms: "any",
};

/** A load refused because the object breaks rules; `violations` says which, for statuses. */
export class ObjectRefusedError extends EbpfOperatorError {
  readonly violations: readonly Violation[];
  constructor(label: string, violations: readonly Violation[]) {
    super("EOP_ERR_OBJECT_REFUSED", `the code of ${label} is refused: ${formatViolations(violations)}`);
    this.name = "ObjectRefusedError";
    this.violations = violations;
  }
}

export function verdictModeOf(enforcement: LoadEnforcement | undefined): VerdictMode {
  return enforcement?.verdictMode ?? enforcement?.rules?.verdictMode ?? "enforce";
}

/** What of the enforcement changes the loaded program: part of the pin generation's load key. */
export function enforcementKey(enforcement: LoadEnforcement | undefined): string {
  return createHash("sha256")
    .update(JSON.stringify([verdictModeOf(enforcement), enforcement?.tracingPrivileges ?? false]))
    .digest("hex")
    .slice(0, 8);
}

/** The memory estimate of all the object's maps on a node with `possibleCpus` CPUs. */
export function objectMapBytes(report: ObjectReport, possibleCpus: number): number {
  return report.maps.reduce((sum, map) => sum + mapBytes(map, possibleCpus), 0);
}

/**
 * Checks the report against the baseline, the resource's rules and its namespace's map-memory
 * budget on this node (`namespaceInUse`: what the namespace's other resources hold); throws
 * ObjectRefusedError.
 */
export function checkObject(report: ObjectReport, enforcement: LoadEnforcement | undefined, target: CheckTarget, label: string, namespaceInUse = 0): void {
  const violations = objectViolations(report, enforcement, target, namespaceInUse);
  if (violations.length > 0) throw new ObjectRefusedError(label, violations);
}

/**
 * Maps with a pinning value other than none or LIBBPF_PIN_BY_NAME: libbpf refuses to open such
 * an object (EINVAL), so this is checked first, from the inspection alone, to say why.
 */
export function pinningViolations(report: ObjectReport): Violation[] {
  return checkObjectAgainst(report, BASELINE_RULES, { attached: [], possibleCpus: 1 }).filter((v) => v.rule === "map-pinning");
}

/** What `checkObject` refuses, as a list (empty: allowed). */
export function objectViolations(report: ObjectReport, enforcement: LoadEnforcement | undefined, target: CheckTarget, namespaceInUse = 0): Violation[] {
  const mode = verdictModeOf(enforcement);
  const rules = enforcement?.rules ? { ...enforcement.rules, verdictMode: mode } : { ...BASELINE_RULES, verdictMode: mode };
  const violations = checkObjectAgainst(report, rules, target);
  // The baseline holds even when a policy's rules forget it.
  if (enforcement?.rules) {
    for (const v of checkObjectAgainst(report, BASELINE_RULES, target)) {
      if (!violations.some((w) => w.message === v.message)) violations.push(v);
    }
  }
  violations.push(...mixedPrivilegeViolations(target, enforcement));
  const budget = enforcement?.namespaceMapBytes;
  if (budget !== undefined) {
    const own = objectMapBytes(report, target.possibleCpus);
    if (namespaceInUse + own > budget) {
      violations.push({
        rule: "namespace-maps-memory",
        message:
          `the object's maps can hold ${formatBytes(own)} and the namespace's other EbpfMaps on this node hold ${formatBytes(namespaceInUse)}; ` +
          `the namespace may hold ${formatBytes(budget)} per node`,
      });
    }
  }
  return violations;
}

/**
 * libbpf verifies all of an object's programs in one load, with one set of capabilities: a
 * resource mixing tracing types (which need CAP_PERFMON) with non-tracing ones would have the
 * latter verified with tracing privileges. Refused unless the policy grants those privileges.
 */
function mixedPrivilegeViolations(target: CheckTarget, enforcement: LoadEnforcement | undefined): Violation[] {
  if (enforcement?.tracingPrivileges) return [];
  const tracing = target.attached.find((a) => isTracingProgramType(a.type));
  const other = target.attached.find((a) => a.type !== "unknown" && !isTracingProgramType(a.type));
  if (tracing === undefined || other === undefined) return [];
  return [
    {
      rule: "program-type",
      program: other.name,
      message:
        `program "${other.name}" (${other.type}) would be verified together with the tracing program "${tracing.name}" (${tracing.type}), ` +
        `with the tracing privileges a ${other.type} program is not granted; put them in two EbpfMaps`,
    },
  ];
}

/**
 * The capabilities to drop while loading programs of these kernel types: none when one of them
 * is a tracing type (it needs CAP_PERFMON to load at all) or the policy grants tracing
 * privileges, CAP_PERFMON and CAP_SYS_ADMIN otherwise.
 */
export function capabilitiesToDrop(programTypes: readonly string[], enforcement: LoadEnforcement | undefined): Capability[] {
  if (enforcement?.tracingPrivileges) return [];
  if (programTypes.some(isTracingProgramType)) return [];
  return [...TRACING_CAPABILITIES];
}

/**
 * The observe-mode rewrite of one entry program: `libbpfCode` is libbpf's view of the program
 * before load, which must be the function the report analysed. Returns the code to load, or
 * undefined when the type's return value changes nothing (no rewrite needed).
 */
export function observeRewrite(
  report: ObjectReport,
  program: string,
  programType: string,
  libbpfCode: Uint8Array,
  label: string,
): { code: Uint8Array; exits: number } | undefined {
  const verdict = OBSERVE_VERDICTS.get(programType);
  if (verdict === undefined) {
    throw new ObjectRefusedError(label, [
      { rule: "observe-program-type", program, message: `program "${program}" is a ${programType} program, which has enforce mode only` },
    ]);
  }
  if (verdict === null) return undefined;
  const analysed = codeOf(report)?.get(program)?.bytes;
  if (analysed === undefined || !sameBytes(analysed, libbpfCode)) {
    throw new ObjectRefusedError(label, [
      {
        rule: "observe-unverifiable",
        program,
        message: `libbpf's code of program "${program}" differs from the inspected object: refusing to rewrite what was not checked`,
      },
    ]);
  }
  const rewritten = rewriteExits(libbpfCode, verdict, endianness() === "LE");
  return { code: rewritten.bytes, exits: rewritten.exits };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
