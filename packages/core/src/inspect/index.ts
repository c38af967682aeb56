/**
 * Object inspection and the tenant rules it is checked against: the public surface a tenancy
 * policy calls (docs/security.md).
 *
 *   const report = inspectObject(bytes);                    // what the ELF would make the kernel do
 *   const violations = checkObjectAgainst(report, rules, { attached, possibleCpus });
 */
export {
  inspectObject,
  mapBytes,
  mapMemory,
  helperName,
  ObjectFormatError,
  TAIL_CALL_HELPER_ID,
  type ObjectReport,
  type InspectOptions,
  type ProgramReport,
  type FunctionReport,
  type MapReport,
  type HelperCall,
  type NamedSite,
  type Site,
  type SourceLocation,
} from "./inspect-object.js";
export {
  checkObjectAgainst,
  formatViolations,
  formatSource,
  DEFAULT_TENANT_RULES,
  type ObjectRules,
  type MapRules,
  type CheckTarget,
  type Violation,
  type ViolationRule,
  type VerdictMode,
} from "./rules.js";
export {
  OBSERVE_HELPERS,
  TRACING_READ_HELPERS,
  OBSERVE_FORBIDDEN_HELPERS,
  OBSERVE_FORBIDDEN_KFUNCS,
  DANGEROUS_HELPER_REASONS,
  OBSERVE_MAP_TYPES,
  TRACING_PROGRAM_TYPES,
  helperGranted,
  isTracingProgramType,
  type HelperGrant,
  type HelperSetName,
} from "./helper-sets.js";
export { OBSERVE_VERDICTS, ENFORCE_ONLY_REASONS, ENFORCE_ONLY_ATTACH_TYPES, rewriteExits, type RewriteResult } from "./observe-mode.js";
export { BPF_HELPERS, BPF_MAP_TYPES, BPF_PROG_TYPES, type UapiHelper } from "./bpf-uapi.js";
