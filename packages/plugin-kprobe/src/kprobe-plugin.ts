/**
 * kprobes and kretprobes: dynamic probes on (almost) any kernel function. Syscall names are
 * resolved to the kernel's wrapper symbols; a missing function fails with the closest names.
 *
 * Support needs a kernel built with CONFIG_KPROBES: the program type loads without it, but
 * nothing can attach, so support is detected from the kprobe PMU or tracefs' kprobe_events.
 * In pod scope (`spec.selector`) the program runs behind the host's cgroup gate: for the
 * selected pods' tasks only.
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import { PluginTargetError, closestNames, definePlugin, type PluginHost } from "@ebpf-operator/core/sdk";
import { probeProgramType } from "@ebpf-operator/libbpf";
import { kernelSymbols, resolveFunction, syscallWrapperPrefix } from "./kernel-symbols.js";
import { kprobeTargetSchema, parseKprobeTarget, type KprobeTarget } from "./kprobe-target.js";

const KPROBE_PMU = "/sys/bus/event_source/devices/kprobe";

export const kprobePlugin = definePlugin<KprobeTarget>({
  meta: {
    name: "@ebpf-operator/plugin-kprobe",
    version: "0.1.0",
    apiVersion: 1,
    kernelWide: true,
    programTypes: ["kprobe", "kretprobe"],
    description: "Attach to kernel function entry (kprobe) and return (kretprobe).",
  },
  targetSchema: kprobeTargetSchema,

  parseTarget: (type, target) => parseKprobeTarget(type, target),

  async detectSupport(type, host, target) {
    if (!probeProgramType("kprobe")) {
      return { supported: false, reason: "the kernel cannot load BPF_PROG_TYPE_KPROBE programs" };
    }
    if (await hasKprobes(host)) return { supported: true };
    return {
      supported: false,
      reason: "the kernel lacks kprobe support (built without CONFIG_KPROBES: no kprobe PMU and no kprobe_events in tracefs)",
      hint: tracepointHint(type, target),
    };
  },

  async resolveTarget(type, target) {
    const symbols = await kernelSymbols();
    const symbol = resolveFunction(target.function, symbols);
    if (!symbol) {
      const prefix = syscallWrapperPrefix();
      const wanted = target.function.startsWith("sys_") && prefix ? `${prefix}${target.function}` : target.function;
      const near = closestNames(wanted, symbols.names());
      throw new PluginTargetError(
        "EOP_ERR_TARGET_NOT_FOUND",
        `${type} target: kernel function "${target.function}" does not exist on this kernel${near.length ? ` (did you mean ${near.join(", ")}?)` : ""}`,
      );
    }
    return { ...target, symbol };
  },

  prepare({ object, programName }) {
    object.setProgramType(programName, "kprobe");
  },

  async attach({ program, target }) {
    const link = program.attachKprobe(target.symbol, { retprobe: target.retprobe, offset: target.offset });
    const where = target.offset ? `${target.symbol}+${target.offset}` : target.symbol;
    return [{ kind: "link", link, description: `${target.retprobe ? "kretprobe" : "kprobe"} ${where}` }];
  },

  // Pod scope: the host's gate (a kprobe program too) is attached at this function and runs the
  // program for the selected pods' tasks only (core's loader/pod-gate.ts). No `verify`: the
  // context is the registers, one fixed size the verifier bounds, and a program using
  // bpf_override_return (checked at attach) is refused by the gate's program array.
  podScope: { mode: "gate", check() {} },
});

async function hasKprobes(host: PluginHost): Promise<boolean> {
  if (await exists(KPROBE_PMU)) return true;
  try {
    return await exists(join(await host.tracefs(), "kprobe_events"));
  } catch {
    return false;
  }
}

function tracepointHint(type: string, target: KprobeTarget | undefined): string {
  const syscall = target?.function.replace(/^(__[a-z0-9]+_)?sys_/, "");
  if (target && syscall !== target.function) {
    const tp = `syscalls/sys_${type === "kretprobe" ? "exit" : "enter"}_${syscall}`;
    return `use type: tracepoint with target: ${tp}, which fires for the same syscall`;
  }
  return "use a tracepoint where one covers the same event";
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
