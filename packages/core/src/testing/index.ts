/**
 * @ebpf-operator/core/testing — the plugin conformance suite and its checks. Import it from a
 * plugin's tests only: it imports `vitest` (a peer dependency of this entry point).
 */
export { describePluginConformance, type ConformanceOptions } from "./conformance.js";
export {
  checkApiVersion,
  checkDecoderNames,
  checkDecoderOutputs,
  checkInvalidTarget,
  checkKernelSupport,
  checkMalformedTarget,
  checkMetadata,
  checkTargetCoverage,
  checkTargetTiming,
  checkValidTarget,
  compileTargetSchema,
  targetErrorProblems,
  TARGET_TIME_BUDGET_MS,
  type InvalidTargetCase,
  type TargetCase,
} from "./checks.js";
export { runKernelCycle, type CyclePhase, type KernelCycleOptions, type KernelCycleReport } from "./kernel-cycle.js";
export { decoderInputs, pumpedTargetFamilies, seededRandom, targetMutations } from "./fuzz.js";
