/**
 * `checkObjectAgainst(report, rules, target)`: an object's report against what a tenant may do.
 * The rules are what a tenancy policy sets per resource (allowed program types, helper sets and
 * helper names, kfuncs, kernel symbols, map types and memory, code size, verdict mode); the
 * target is what is being loaded (the attached programs and their kernel types, the node's CPU
 * count). Every violation names the rule, the program, the helper or map, and the source line
 * when the object's line info has it.
 */
import { codeOf, mapBytes, type HelperCall, type ObjectReport, type ProgramReport, type SourceLocation } from "./inspect-object.js";
import {
  OBSERVE_FORBIDDEN_HELPERS,
  OBSERVE_FORBIDDEN_KFUNCS,
  OBSERVE_MAP_TYPES,
  DANGEROUS_HELPER_REASONS,
  helperGranted,
  type HelperGrant,
} from "./helper-sets.js";
import { ENFORCE_ONLY_ATTACH_TYPES, ENFORCE_ONLY_REASONS, MAX_REWRITE_INSNS, OBSERVE_VERDICTS } from "./observe-mode.js";
import { analyzeStores, packetFieldsOf } from "./store-analysis.js";

export type VerdictMode = "observe" | "enforce";

export interface MapRules {
  /** Allowed map types (libbpf names); absent: any. */
  types?: readonly string[];
  /** Largest `max_entries` of any one map. */
  maxEntries?: number;
  /** Largest memory estimate of any one map, in bytes (per-CPU values × possible CPUs). */
  maxBytesPerMap?: number;
  /** Largest memory estimate of all the object's maps together. */
  maxBytesTotal?: number;
}

export interface ObjectRules {
  /** `observe`: the program cannot change traffic or behaviour (see observe-mode.ts); `enforce`: it can. */
  verdictMode: VerdictMode;
  helpers: HelperGrant;
  /** kfuncs allowed by name (or `any`); default none. */
  kfuncs?: readonly string[] | "any";
  /** `__ksym` kernel variables allowed by name (or `any`); default none. */
  ksyms?: readonly string[] | "any";
  /** Kernel program types (libbpf names: `xdp`, `cgroup_skb`, `tracepoint`, ...) allowed; absent: any. */
  programTypes?: readonly string[];
  maps?: MapRules;
  /** Most instructions per attached program (with its subprograms). */
  maxInstructions?: number;
  /** Programs in the object that are not attached (they are never loaded); default `allow`. */
  extraPrograms?: "allow" | "refuse";
}

/** What is being loaded from the object. */
export interface CheckTarget {
  /** The programs that will be loaded and attached, with the kernel program type each gets. */
  attached: readonly { name: string; type: string; attachType?: string }[];
  /** CPUs the node can have (per-CPU map memory); the agent knows it, the operator assumes one. */
  possibleCpus: number;
}

export type ViolationRule =
  | "program-missing"
  | "program-type"
  | "extra-program"
  | "helper"
  | "kfunc"
  | "ksym"
  | "map-type"
  | "map-entries"
  | "map-memory"
  | "maps-memory"
  | "namespace-maps-memory"
  | "map-pinning"
  | "instructions"
  | "observe-program-type"
  | "observe-helper"
  | "observe-packet-store"
  | "observe-context-store"
  | "observe-packet-argument"
  | "observe-unverifiable";

export interface Violation {
  rule: ViolationRule;
  program?: string;
  helper?: string;
  kfunc?: string;
  map?: string;
  source?: SourceLocation;
  message: string;
}

/**
 * A safe default for a namespace no policy selects: observe mode, the observe helpers, plain
 * storage and output maps, modest sizes. A policy may start from it.
 */
export const DEFAULT_TENANT_RULES: ObjectRules = {
  verdictMode: "observe",
  helpers: { sets: ["observe"] },
  maps: { types: OBSERVE_MAP_TYPES, maxEntries: 65_536, maxBytesPerMap: 16 * 1024 * 1024, maxBytesTotal: 64 * 1024 * 1024 },
  maxInstructions: 100_000,
  extraPrograms: "allow",
};

/** `at program.bpf.c:12 (`*v += 1;`)`: where a finding is, for messages. */
export function formatSource(source: SourceLocation | undefined): string {
  if (source === undefined) return "";
  const file = source.file.replace(/^.*\//, "");
  return ` at ${file}:${source.line}${source.text ? ` (\`${source.text}\`)` : ""}`;
}

/** `1.5 MiB`, `12.0 KiB`, `100 bytes`. */
export const formatBytes = (n: number): string =>
  n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} bytes`;

export function checkObjectAgainst(report: ObjectReport, rules: ObjectRules, target: CheckTarget): Violation[] {
  const violations: Violation[] = [];
  const add = (v: Violation): void => {
    violations.push(v);
  };
  const attachedNames = new Set(target.attached.map((a) => a.name));

  for (const attached of target.attached) {
    const program = report.programs.find((p) => p.name === attached.name);
    if (program === undefined) {
      add({
        rule: "program-missing",
        program: attached.name,
        message: `the object has no program "${attached.name}" (programs: ${report.programs.map((p) => p.name).join(", ") || "none"})`,
      });
      continue;
    }
    checkProgram(report, program, attached, rules, add);
  }

  if (rules.extraPrograms === "refuse") {
    for (const p of report.programs) {
      if (!attachedNames.has(p.name))
        add({
          rule: "extra-program",
          program: p.name,
          message: `the object holds program "${p.name}" (section ${p.section}), which is not attached; the rules allow only the attached programs`,
        });
    }
  }
  checkMaps(report, rules.maps, target, add);
  return violations;
}

function checkProgram(
  report: ObjectReport,
  program: ProgramReport,
  attached: CheckTarget["attached"][number],
  rules: ObjectRules,
  add: (v: Violation) => void,
): void {
  const who = `program "${program.name}"`;
  if (rules.programTypes !== undefined && !rules.programTypes.includes(attached.type)) {
    add({
      rule: "program-type",
      program: program.name,
      message: `${who} is a ${attached.type} program; the rules allow ${rules.programTypes.join(", ") || "no program types"}`,
    });
  }
  if (rules.maxInstructions !== undefined && program.instructions > rules.maxInstructions) {
    add({
      rule: "instructions",
      program: program.name,
      message: `${who} has ${program.instructions} instructions (with its subprograms); the rules allow ${rules.maxInstructions}`,
    });
  }
  const observe = rules.verdictMode === "observe";
  // One violation per helper, at its first call; the count says how many more there are.
  const byHelper = new Map<string, HelperCall[]>();
  for (const call of program.helperCalls) byHelper.set(call.name, [...(byHelper.get(call.name) ?? []), call]);
  for (const [name, calls] of byHelper) {
    const call = calls[0]!;
    const more = calls.length > 1 ? ` (and ${calls.length - 1} more call${calls.length > 2 ? "s" : ""})` : "";
    const forbidden = observe ? OBSERVE_FORBIDDEN_HELPERS.get(name) : undefined;
    if (forbidden !== undefined) {
      add({
        rule: "observe-helper",
        program: program.name,
        helper: name,
        source: call.source,
        message: `${who} calls ${name}${formatSource(call.source)}${more}, which ${forbidden}: not allowed in observe mode`,
      });
    } else if (!helperGranted(name, attached.type, rules.helpers)) {
      const why = DANGEROUS_HELPER_REASONS.get(name);
      add({
        rule: "helper",
        program: program.name,
        helper: name,
        source: call.source,
        message: `${who} calls ${name} (helper #${call.id})${formatSource(call.source)}${more}${why ? `, which ${why}` : ""}; the rules allow ${describeGrant(rules.helpers)}`,
      });
    }
  }
  for (const call of program.kfuncCalls) {
    const forbidden = observe ? OBSERVE_FORBIDDEN_KFUNCS.get(call.name) : undefined;
    if (forbidden !== undefined) {
      add({
        rule: "observe-helper",
        program: program.name,
        kfunc: call.name,
        source: call.source,
        message: `${who} calls kfunc ${call.name}${formatSource(call.source)}, which ${forbidden}: not allowed in observe mode`,
      });
    } else if (!granted(rules.kfuncs, call.name)) {
      add({
        rule: "kfunc",
        program: program.name,
        kfunc: call.name,
        source: call.source,
        message: `${who} calls kfunc ${call.name}${formatSource(call.source)}; the rules allow ${describeNames(rules.kfuncs, "kfuncs")}`,
      });
    }
  }
  for (const ref of program.ksymReferences) {
    if (!granted(rules.ksyms, ref.name)) {
      add({
        rule: "ksym",
        program: program.name,
        source: ref.source,
        message: `${who} reads kernel symbol ${ref.name} (__ksym)${formatSource(ref.source)}; the rules allow ${describeNames(rules.ksyms, "kernel symbols")}`,
      });
    }
  }
  for (const call of program.calls) {
    if (call.name === "<unresolved>")
      add({
        rule: "observe-unverifiable",
        program: program.name,
        source: call.source,
        message: `${who} calls code that is not a function${formatSource(call.source)}`,
      });
  }
  if (observe) checkObserve(report, program, attached, add);
}

function checkObserve(report: ObjectReport, program: ProgramReport, attached: CheckTarget["attached"][number], add: (v: Violation) => void): void {
  const who = `program "${program.name}"`;
  const enforceOnly = ENFORCE_ONLY_REASONS.get(attached.type);
  if (!OBSERVE_VERDICTS.has(attached.type)) {
    add({
      rule: "observe-program-type",
      program: program.name,
      message: `${who} is a ${attached.type} program, which has enforce mode only${enforceOnly ? ` (${enforceOnly})` : " (its effect is not a verdict observe mode can neutralise)"}`,
    });
    return;
  }
  if (attached.attachType !== undefined && ENFORCE_ONLY_ATTACH_TYPES.has(attached.attachType)) {
    add({
      rule: "observe-program-type",
      program: program.name,
      message: `${who} attaches as ${attached.attachType}: enforce mode only (${ENFORCE_ONLY_ATTACH_TYPES.get(attached.attachType)})`,
    });
    return;
  }
  if (attached.type === "tracing" && attached.attachType === undefined) {
    add({
      rule: "observe-program-type",
      program: program.name,
      message: `${who} is a tracing program of unknown attach type (fmod_ret programs change results): cannot run in observe mode`,
    });
    return;
  }
  const code = codeOf(report);
  const entry = code?.get(program.name);
  if (code === undefined || entry === undefined) {
    add({
      rule: "observe-unverifiable",
      program: program.name,
      message: `${who} cannot be checked for observe mode: the report carries no code (inspect the object in this process)`,
    });
    return;
  }
  if (entry.insns.length > MAX_REWRITE_INSNS) {
    add({
      rule: "observe-unverifiable",
      program: program.name,
      message: `${who} has ${entry.insns.length} instructions in its entry function; observe mode rewrites at most ${MAX_REWRITE_INSNS}`,
    });
  }
  for (const finding of analyzeStores(code, program.name, program.functions, packetFieldsOf(attached.type))) {
    const where = formatSource(finding.source);
    const fn = finding.function === program.name ? "" : ` (in ${finding.function})`;
    if (finding.kind === "packet-store") {
      add({
        rule: "observe-packet-store",
        program: program.name,
        source: finding.source,
        message: `${who} may write the packet${where}${fn}: not allowed in observe mode`,
      });
    } else if (finding.kind === "indirect-jump") {
      add({
        rule: "observe-unverifiable",
        program: program.name,
        source: finding.source,
        message: `${who} jumps through a register${where}${fn}: observe mode cannot follow it`,
      });
    } else if (finding.kind === "context-store") {
      add({
        rule: "observe-context-store",
        program: program.name,
        source: finding.source,
        message: `${who} may write its context${where}${fn} (e.g. skb->mark, a socket's fields): not allowed in observe mode`,
      });
    } else {
      add({
        rule: "observe-packet-argument",
        program: program.name,
        helper: finding.callee,
        source: finding.source,
        message: `${who} passes a packet pointer to ${finding.callee} (argument ${finding.argument}, which it may write through)${where}${fn}: not allowed in observe mode`,
      });
    }
  }
}

function checkMaps(report: ObjectReport, rules: MapRules | undefined, target: CheckTarget, add: (v: Violation) => void): void {
  let total = 0;
  for (const map of report.maps) {
    const bytes = mapBytes(map, target.possibleCpus);
    total += bytes;
    const who = `map "${map.name}"`;
    const at = formatSource(map.firstUse);
    // LIBBPF_PIN_BY_NAME is contained, whatever the rules: the loader clears the path libbpf
    // would pin it at (shared by every resource) and pins the map in the resource's own
    // generation directory, a path the tenant cannot choose. Any other value is one libbpf
    // would act on (or refuse) without that containment: refused.
    if (map.pinning !== "none" && map.pinning !== "by_name") {
      add({
        rule: "map-pinning",
        map: map.name,
        source: map.firstUse,
        message: `${who} is declared with pinning ${map.pinning}: only LIBBPF_PIN_BY_NAME (pinned in the resource's own directory) or no pinning is allowed; remove the pinning attribute or use LIBBPF_PIN_BY_NAME`,
      });
    }
    if (map.internal) continue; // global variables: counted in memory only
    if (rules?.types !== undefined && !rules.types.includes(map.type)) {
      add({
        rule: "map-type",
        map: map.name,
        source: map.firstUse,
        message: `${who}${at} is a ${map.type} map; the rules allow ${rules.types.join(", ") || "no map types"}`,
      });
    }
    if (rules?.maxEntries !== undefined && map.maxEntries > rules.maxEntries) {
      add({
        rule: "map-entries",
        map: map.name,
        source: map.firstUse,
        message: `${who} has max_entries ${map.maxEntries}; the rules allow ${rules.maxEntries}`,
      });
    }
    if (rules?.maxBytesPerMap !== undefined && bytes > rules.maxBytesPerMap) {
      add({
        rule: "map-memory",
        map: map.name,
        source: map.firstUse,
        message: `${who} can hold ${formatBytes(bytes)} (${map.maxEntries} entries × key ${map.keySize} + value ${map.valueSize}${map.perCpu ? ` × ${target.possibleCpus} CPUs` : ""}); the rules allow ${formatBytes(rules.maxBytesPerMap)} per map`,
      });
    }
  }
  if (rules?.maxBytesTotal !== undefined && total > rules.maxBytesTotal) {
    add({ rule: "maps-memory", message: `the object's maps can hold ${formatBytes(total)} together; the rules allow ${formatBytes(rules.maxBytesTotal)}` });
  }
}

function granted(list: readonly string[] | "any" | undefined, name: string): boolean {
  return list === "any" || (list ?? []).includes(name);
}

function describeNames(list: readonly string[] | "any" | undefined, what: string): string {
  if (list === "any") return `any ${what}`;
  return list?.length ? `only ${list.join(", ")}` : `no ${what}`;
}

function describeGrant(grant: HelperGrant): string {
  const parts = grant.sets.map((s) => `the ${s} helper set`);
  if (grant.names?.length) parts.push(grant.names.join(", "));
  return parts.join(" and ") || "no helpers";
}

/** One line per violation, for a condition message. */
export function formatViolations(violations: readonly Violation[]): string {
  return violations.map((v) => v.message).join("; ");
}
