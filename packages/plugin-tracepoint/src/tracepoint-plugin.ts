/**
 * Tracepoints: the kernel's stable static hooks (`syscalls/sys_enter_execve`, `sched/sched_switch`).
 * Existence is checked against tracefs (mounted when missing) so a typo fails with the closest
 * real names instead of an errno. In pod scope (`spec.selector`) the program runs behind the
 * host's cgroup gate: for the selected pods' tasks only.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { PluginTargetError, closestNames, definePlugin, type PluginHost } from "@ebpf-operator/core/sdk";
import { probeProgramType } from "@ebpf-operator/libbpf";
import { parseTracepointTarget, tracepointTargetSchema, type TracepointTarget } from "./tracepoint-target.js";

export const tracepointPlugin = definePlugin<TracepointTarget>({
  meta: {
    name: "@ebpf-operator/plugin-tracepoint",
    version: "0.1.0",
    apiVersion: 1,
    kernelWide: true,
    programTypes: ["tracepoint"],
    description: "Attach to kernel tracepoints (category/name).",
  },
  targetSchema: tracepointTargetSchema,

  parseTarget: (_type, target) => parseTracepointTarget(target),

  async detectSupport(_type, host) {
    if (!probeProgramType("tracepoint")) {
      return { supported: false, reason: "the kernel cannot load BPF_PROG_TYPE_TRACEPOINT programs (CONFIG_BPF_EVENTS is off?)" };
    }
    try {
      await host.tracefs();
    } catch (error) {
      return { supported: false, reason: `tracefs is not available: ${(error as Error).message}` };
    }
    return { supported: true };
  },

  async resolveTarget(_type, target, host) {
    await checkTracepointExists(target, host);
    return target;
  },

  prepare({ object, programName }) {
    object.setProgramType(programName, "tracepoint");
  },

  async attach({ program, target }) {
    const link = program.attachTracepoint(target.category, target.name);
    return [{ kind: "link", link, description: `tracepoint ${target.category}:${target.name}` }];
  },

  // Pod scope: the host's gate, attached at this tracepoint, runs the program for the selected
  // pods' tasks only (core's loader/pod-gate.ts). The kernel checks how far a tracepoint program
  // reads into the event's record when the program is attached, not when it is tail-called:
  // `verify` has the kernel check it against a never-enabled event first.
  podScope: {
    mode: "gate",
    check() {},
    verify({ program, target }) {
      program.checkTracepointAttach(target.category, target.name);
    },
  },
});

async function checkTracepointExists(target: TracepointTarget, host: PluginHost): Promise<void> {
  const events = join(await host.tracefs(), "events");
  const exists = await stat(join(events, target.category, target.name, "id")).then(
    () => true,
    () => false,
  );
  if (exists) return;
  const categories = await readdir(events).catch(() => [] as string[]);
  if (!categories.includes(target.category)) {
    throw new PluginTargetError(
      "EOP_ERR_TARGET_NOT_FOUND",
      `tracepoint category "${target.category}" does not exist on this kernel${suggest(closestNames(target.category, categories))}`,
    );
  }
  const names = await readdir(join(events, target.category)).catch(() => [] as string[]);
  throw new PluginTargetError(
    "EOP_ERR_TARGET_NOT_FOUND",
    `tracepoint "${target.category}/${target.name}" does not exist on this kernel${suggest(closestNames(target.name, names).map((n) => `${target.category}/${n}`))}`,
  );
}

function suggest(names: string[]): string {
  return names.length ? ` (did you mean ${names.join(", ")}?)` : "";
}
