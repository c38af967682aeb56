/**
 * uprobes and uretprobes: probes on the entry and return of functions in user-space binaries
 * and shared libraries. The program is a BPF_PROG_TYPE_KPROBE program (read the registers with
 * BPF_UPROBE/BPF_URETPROBE or PT_REGS_* from <bpf/bpf_tracing.h>), attached through the kernel's
 * uprobe PMU with a BPF link, which the host pins.
 *
 * A uprobe is placed on the file (its inode), so it fires in every process of the node that
 * runs that binary or maps that library, in every container sharing the file: the plugin is
 * kernel-wide. `?pid=` narrows one resource to one process.
 */
import { access, readFile, realpath } from "node:fs/promises";
import { PluginTargetError, closestNames, definePlugin } from "@ebpf-operator/core/sdk";
import { probeProgramType } from "@ebpf-operator/libbpf";
import { resolveBinary } from "./binary-path.js";
import { readFunctionSymbols } from "./elf-symbols.js";
import { describeTarget, parseUprobeTarget, uprobeTargetSchema, type UprobeTarget } from "./uprobe-target.js";

const UPROBE_PMU_TYPE = "/sys/bus/event_source/devices/uprobe/type";

export const uprobePlugin = definePlugin<UprobeTarget>({
  meta: {
    name: "ebpf-operator-plugin-uprobe",
    version: "0.1.0",
    apiVersion: 1,
    // A probe on a file fires in every process running it, whichever namespace asked.
    kernelWide: true,
    programTypes: ["uprobe", "uretprobe"],
    description: "Attach to function entry (uprobe) and return (uretprobe) in user-space binaries and libraries.",
  },
  targetSchema: uprobeTargetSchema,

  parseTarget: (type, target) => parseUprobeTarget(type, target),

  async detectSupport() {
    if (!probeProgramType("kprobe")) {
      return { supported: false, reason: "the kernel cannot load BPF_PROG_TYPE_KPROBE programs, which uprobes run as" };
    }
    if (!(await exists(UPROBE_PMU_TYPE))) {
      return {
        supported: false,
        reason: "the kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe: built without CONFIG_UPROBE_EVENTS)",
        hint: "a tracepoint on the syscalls the function makes may observe the same activity",
      };
    }
    return { supported: true };
  },

  async resolveTarget(type, target) {
    const path = await resolveBinary(target.binary, type);
    await checkSymbol(type, { ...target, path });
    if (target.pid !== undefined) await checkProcess(type, target.pid, path);
    return { ...target, path };
  },

  prepare({ object, programName }) {
    object.setProgramType(programName, "kprobe");
  },

  async attach({ program, target }) {
    const path = target.path ?? (await resolveBinary(target.binary, target.retprobe ? "uretprobe" : "uprobe"));
    const link = program.attachUprobe(path, { symbol: target.symbol, offset: target.offset, pid: target.pid, retprobe: target.retprobe });
    return [{ kind: "link", link, description: `${target.retprobe ? "uretprobe" : "uprobe"} ${describeTarget({ ...target, path })}` }];
  },

  // No decoders: core's generic ones (uint, string, hex, ...) cover what uprobe programs key by.
});

/** The function exists in the file's symbol tables (and an offset stays inside it). */
async function checkSymbol(type: string, target: UprobeTarget & { path: string }): Promise<void> {
  const symbols = await readFunctionSymbols(target.path);
  if (symbols === "not-elf") {
    throw new PluginTargetError("EOP_ERR_TARGET_NOT_FOUND", `${type} target: ${target.path} is not an ELF binary (a script? probe its interpreter instead)`);
  }
  if (symbols === "unsupported-elf" || target.symbol === undefined) return; // the attach checks what cannot be read here
  if (!symbols.hasSymbolTables) {
    throw new PluginTargetError(
      "EOP_ERR_TARGET_NOT_FOUND",
      `${type} target: ${target.path} has no symbol tables (stripped): give a file offset instead of "${target.symbol}"`,
    );
  }
  const size = symbols.functions.get(target.symbol);
  if (size === undefined) {
    const near = closestNames(target.symbol, [...symbols.functions.keys()]);
    throw new PluginTargetError(
      "EOP_ERR_TARGET_NOT_FOUND",
      `${type} target: function "${target.symbol}" is not in the symbol tables of ${target.path}${near.length ? ` (did you mean ${near.join(", ")}?)` : ""}`,
    );
  }
  if (size > 0 && target.offset >= size) {
    throw new PluginTargetError(
      "EOP_ERR_TARGET_NOT_FOUND",
      `${type} target: offset ${target.offset} is outside "${target.symbol}" (${size} bytes) in ${target.path}`,
    );
  }
}

/** The process exists and maps the file (else the probe would never fire). */
async function checkProcess(type: string, pid: number, path: string): Promise<void> {
  const maps = await readFile(`/proc/${pid}/maps`, "utf8").catch(() => undefined);
  if (maps === undefined)
    throw new PluginTargetError("EOP_ERR_TARGET_NOT_FOUND", `${type} target: process ${pid} does not exist (in the agent's pid namespace)`);
  const real = await realpath(path).catch(() => path);
  const mapped = maps.split("\n").some((line) => {
    const file = line.slice(line.indexOf("/"));
    return line.includes("/") && (file === path || file === real);
  });
  if (!mapped) throw new PluginTargetError("EOP_ERR_TARGET_NOT_FOUND", `${type} target: process ${pid} does not map ${path}: the probe would never fire`);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
