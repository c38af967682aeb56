/**
 * fentry and fexit: BPF trampolines at a kernel function's entry and return. Arguments (and, for
 * fexit, the return value) arrive typed, from BTF (`BPF_PROG(name, int dfd, struct filename *f)`);
 * cheaper than kprobes (no breakpoint, no pt_regs). Needs kernel BTF and trampolines: some kernels
 * load tp_btf programs yet refuse fentry ones (no ftrace function entries), so support is probed
 * with a real (never attached) fentry/fexit load, not inferred from the program type.
 */
import { PluginTargetError, closestNames, definePlugin, type KernelSupport } from "@ebpf-operator/core/sdk";
import { KERNEL_BTF_DIR, probeProgramType, probeTracing } from "@ebpf-operator/libbpf";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fentryTargetSchema, parseFentryTarget, type FentryTarget } from "./fentry-target.js";
import { btfFunctions, resolveKernelFunction, syscallWrapperPrefix } from "./kernel-functions.js";

/** The kernel's own fentry test function (net/bpf/test_run.c): there whenever trampolines can be. */
const PROBE_FUNCTION = "bpf_fentry_test1";

export const fentryPlugin = definePlugin<FentryTarget>({
  meta: {
    name: "@ebpf-operator/plugin-fentry",
    version: "0.1.0",
    apiVersion: 1,
    kernelWide: true,
    programTypes: ["fentry", "fexit"],
    description: "Attach to kernel function entry (fentry) and return (fexit) through BPF trampolines.",
  },
  targetSchema: fentryTargetSchema,

  parseTarget: (type, target) => parseFentryTarget(type, target),

  async detectSupport(type, _host, target) {
    return detectTrampolines(type, target);
  },

  async resolveTarget(type, target) {
    const functions = btfFunctions();
    const symbol = resolveKernelFunction(target.function, functions);
    if (symbol) return { ...target, symbol };
    const prefix = syscallWrapperPrefix();
    const wanted = target.function.startsWith("sys_") && prefix ? `${prefix}${target.function}` : target.function;
    const near = closestNames(wanted, [...functions]);
    throw new PluginTargetError(
      "EOP_ERR_TARGET_NOT_FOUND",
      `${type} target: kernel function "${target.function}" is not in the kernel's BTF${near.length ? ` (did you mean ${near.join(", ")}?)` : ""}`,
    );
  },

  prepare({ object, programName, programType, target }) {
    object.setProgramType(programName, "tracing");
    object.setExpectedAttachType(programName, programType === "fexit" ? "trace_fexit" : "trace_fentry");
    object.setAttachTarget(programName, target.symbol ?? resolveKernelFunction(target.function, btfFunctions()) ?? target.function);
  },

  async attach({ program, programType, target }) {
    // The function was fixed at load (attach BTF id): a program reopened from its pin attaches the same way.
    return [{ kind: "link", link: program.attachTrace(), description: `${programType} ${target.symbol ?? target.function}` }];
  },
});

function detectTrampolines(type: string, target: FentryTarget | undefined): KernelSupport {
  const hint = alternative(type, target);
  if (!existsSync(join(KERNEL_BTF_DIR, "vmlinux"))) {
    return { supported: false, reason: "the kernel has no BTF (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF is off)", hint };
  }
  // Loads with the privileges tracing programs need; a process without them gets EPERM here,
  // which the host reports as missing privileges.
  if (!probeProgramType("raw_tracepoint")) {
    return { supported: false, reason: "the kernel cannot load tracing programs (CONFIG_BPF_EVENTS is off?)", hint };
  }
  let functions: Set<string>;
  try {
    functions = btfFunctions();
  } catch (error) {
    return { supported: false, reason: `the kernel's BTF cannot be read: ${(error as Error).message}`, hint };
  }
  const resolved = target ? resolveKernelFunction(target.function, functions) : undefined;
  const probeWith = functions.has(PROBE_FUNCTION) ? PROBE_FUNCTION : resolved;
  if (probeWith === undefined) return { supported: true }; // nothing in vmlinux to probe with: resolveTarget reports the function
  const probe = probeTracing(type === "fexit" ? "trace_fexit" : "trace_fentry", probeWith, "func");
  if (probe.supported) return { supported: true };
  // The raw_tracepoint probe above loaded, so this is the kernel refusing trampolines, not a
  // lack of privileges.
  const detail = probe.log.trim().split("\n").pop();
  return {
    supported: false,
    reason: `the kernel refuses ${type} programs (loading one for ${probeWith} failed with ${probe.errno}${detail ? `: ${detail}` : ""}): it has no BPF trampolines for kernel functions (ftrace function entries)`,
    hint,
  };
}

/** What to use instead: the syscall's tracepoint, or a kprobe where the kernel has kprobes. */
function alternative(type: string, target: FentryTarget | undefined): string {
  const syscall = target?.function.replace(/^(__[a-z0-9]+_)?sys_/, "");
  if (target && syscall !== target.function) {
    return `use type: tracepoint with target: syscalls/sys_${type === "fexit" ? "exit" : "enter"}_${syscall}, which fires for the same syscall`;
  }
  const fn = target?.function ?? "<function>";
  return `use type: ${type === "fexit" ? "kretprobe" : "kprobe"} with target: ${fn} where the kernel has kprobes, or a tracepoint or tp_btf hook on the same event`;
}
