/**
 * Raw tracepoints, the cheaper hooks most published programs use:
 *
 * - `raw_tp`: BPF_PROG_TYPE_RAW_TRACEPOINT; the program gets the tracepoint's raw arguments
 *   (`struct bpf_raw_tracepoint_args`, or `BPF_PROG` from <bpf/bpf_tracing.h>), read with
 *   `bpf_probe_read_kernel`/`BPF_CORE_READ`; attached by name.
 * - `tp_btf`: BPF_PROG_TYPE_TRACING loaded against the tracepoint's BTF type, so arguments are
 *   typed kernel pointers read directly (`BPF_PROG(name, struct task_struct *prev, ...)`); the
 *   verifier checks the accesses. Needs kernel BTF.
 *
 * Both skip the perf-event and trace-record layers of classic tracepoints. Existence is checked
 * against the kernel's BTF (`btf_trace_<name>`), so a typo fails with the closest names before
 * anything is compiled.
 *
 * Pod scope (`spec.selector`) is refused for both, with why (use `tracepoint`).
 */
import { PluginTargetError, closestNames, definePlugin, type KernelSupport } from "@ebpf-operator/core/sdk";
import { probeProgramType, probeTracing } from "@ebpf-operator/libbpf";
import { btfTracepoints, kernelHasBtf, tracefsTracepoints } from "./kernel-tracepoints.js";
import { parseRawTracepointTarget, rawTracepointTargetSchema, type RawTracepointTarget } from "./raw-tracepoint-target.js";

/** A tracepoint every kernel with BTF has, for probing tp_btf without a target of its own. */
const PROBE_TRACEPOINT = "sys_enter";

export const rawTracepointPlugin = definePlugin<RawTracepointTarget>({
  meta: {
    name: "@ebpf-operator/plugin-raw-tracepoint",
    version: "0.1.0",
    apiVersion: 1,
    kernelWide: true,
    programTypes: ["raw_tp", "tp_btf"],
    description: "Attach to kernel tracepoints as raw tracepoints (raw_tp) or BTF-typed ones (tp_btf).",
  },
  targetSchema: rawTracepointTargetSchema,

  parseTarget: (type, target) => parseRawTracepointTarget(type, target),

  async detectSupport(type, _host, target) {
    if (!probeProgramType("raw_tracepoint")) {
      return {
        supported: false,
        reason: "the kernel cannot load BPF_PROG_TYPE_RAW_TRACEPOINT programs (CONFIG_BPF_EVENTS is off?)",
        hint: tracepointHint(target),
      };
    }
    if (type === "raw_tp") return { supported: true };
    return detectTpBtf(target);
  },

  async resolveTarget(type, target, host) {
    const known = kernelHasBtf() ? btfTracepoints() : await tracefsTracepoints(await host.tracefs());
    if (known.has(target.name)) return target;
    const near = closestNames(target.name, [...known]);
    throw new PluginTargetError(
      "EOP_ERR_TARGET_NOT_FOUND",
      `${type} target: tracepoint "${target.name}" does not exist on this kernel${near.length ? ` (did you mean ${near.join(", ")}?)` : ""}`,
    );
  },

  prepare({ object, programName, programType, target }) {
    if (programType === "raw_tp") {
      object.setProgramType(programName, "raw_tracepoint");
      return;
    }
    object.setProgramType(programName, "tracing");
    object.setExpectedAttachType(programName, "trace_raw_tp");
    object.setAttachTarget(programName, target.name); // libbpf looks up btf_trace_<name>
  },

  async attach({ program, programType, target }) {
    if (programType === "raw_tp") {
      return [{ kind: "link", link: program.attachRawTracepoint(target.name), description: `raw_tp ${target.name}` }];
    }
    // The tracepoint was fixed at load (attach BTF id): a program reopened from its pin attaches the same way.
    return [{ kind: "link", link: program.attachTrace(), description: `tp_btf ${target.name}` }];
  },

  // Pod scope: neither type can run behind the host's gate (core's loader/pod-gate.ts); both are
  // refused with their reason, never run node-wide.
  podScope: {
    check() {},
    unsupported: {
      raw_tp:
        "the kernel checks how many of the tracepoint's arguments a raw_tp program reads only when the program itself is attached, which the agent's pod-scope gate never does (and a raw tracepoint cannot be attached without running); use type tracepoint with the same event (e.g. raw_syscalls/sys_enter)",
      tp_btf:
        "tp_btf programs are BPF_PROG_TYPE_TRACING, which the kernel lets tail-call only into programs of the same attach point, and the agent's pod-scope gate is not built for that type; use type tracepoint with the same event",
    },
  },
});

function detectTpBtf(target: RawTracepointTarget | undefined): KernelSupport {
  if (!kernelHasBtf()) {
    return {
      supported: false,
      reason: "the kernel has no BTF (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF is off)",
      hint: `use type: raw_tp with target: ${target?.name ?? "<tracepoint>"}`,
    };
  }
  let names: Set<string>;
  try {
    names = btfTracepoints();
  } catch (error) {
    return {
      supported: false,
      reason: `the kernel's BTF cannot be read: ${(error as Error).message}`,
      hint: `use type: raw_tp with target: ${target?.name ?? "<tracepoint>"}`,
    };
  }
  // Probe with the target when vmlinux has it (a module's tracepoint needs its module's BTF object).
  const probeWith = target && names.has(target.name) ? target.name : PROBE_TRACEPOINT;
  const probe = probeTracing("trace_raw_tp", `btf_trace_${probeWith}`, "typedef");
  if (probe.supported || probe.errno === "ENOENT") return { supported: true }; // ENOENT: the target is a module's; resolveTarget decides
  // The raw_tracepoint probe above loaded, so bpf() is allowed: an EPERM here is the kernel
  // refusing this type (as some kernels refuse fentry), not missing privileges.
  return {
    supported: false,
    reason: `the kernel refuses BTF-typed tracepoint programs (${probe.errno}${probe.log ? `: ${probe.log.trim().split("\n").pop()}` : ""})`,
    hint: `use type: raw_tp with target: ${target?.name ?? "<tracepoint>"}`,
  };
}

function tracepointHint(target: RawTracepointTarget | undefined): string {
  return target ? `use type: tracepoint with the tracefs event of ${target.name} (category/${target.name})` : "use type: tracepoint (category/name)";
}
