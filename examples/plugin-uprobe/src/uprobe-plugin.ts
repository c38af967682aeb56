/**
 * uprobes and uretprobes: probes on the entry and return of functions in user-space binaries
 * and shared libraries. The program is a BPF_PROG_TYPE_KPROBE program (read the registers with
 * BPF_UPROBE/BPF_URETPROBE or PT_REGS_* from <bpf/bpf_tracing.h>), attached through the kernel's
 * uprobe PMU with a BPF link, which the host pins.
 *
 * A uprobe is placed on the file (its inode), so it fires in every process of the node that
 * runs that binary or maps that library, in every container sharing the file: the plugin is
 * kernel-wide. `?pid=` narrows one resource to one process.
 *
 * Pod scope (`spec.selector`) runs in gate mode with per-pod targets: the tenant's program is
 * loaded but never attached; the agent's gate (a kprobe-type program, which uprobes are) is
 * attached at the binary as each selected pod's containers see it (pod-binary.ts: through a
 * process's root, confined to it), once per file however many pods share it, and tail-calls
 * the program only for tasks of the selected pods: other tenants' containers running the same
 * image layer (the same inode) fire the probe and are turned away by the gate.
 */
import { access, readFile, realpath } from "node:fs/promises";
import { PluginTargetError, closestNames, definePlugin, type PodCgroupTarget, type PodGateTarget } from "@ebpf-operator/core/sdk";
import { probeProgramType } from "@ebpf-operator/libbpf";
import { resolveBinary, searchDirectories } from "./binary-path.js";
import { openInPod } from "./pod-binary.js";
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

  podScope: {
    mode: "gate",
    check(type, target) {
      if (target.pid !== undefined) {
        throw new PluginTargetError(
          "EOP_ERR_TARGET_INVALID",
          `${type} target: ?pid=${target.pid} names a process of the node; in pod scope spec.selector chooses the processes (the selected pods'): remove ?pid=`,
        );
      }
    },
    gateTargets: (type, target, pod) => podTargets(type, target, pod),
  },

  // No decoders: core's generic ones (uint, string, hex, ...) cover what uprobe programs key by.
});

/**
 * The binary in each of the pod's containers that has it, open (attached through
 * `/proc/self/fd/<fd>`, released by the host after the attach), keyed by device and inode so
 * pods sharing the file share one probe. None: a PluginTargetError naming why, per container.
 */
async function podTargets(type: string, target: UprobeTarget, pod: PodCgroupTarget): Promise<PodGateTarget<UprobeTarget>[]> {
  const paths = target.binary.startsWith("/") ? [target.binary] : searchDirectories({}).map((dir) => `${dir}/${target.binary}`);
  const { found, skipped } = await openInPod(pod, paths);
  const out: PodGateTarget<UprobeTarget>[] = [];
  const problems: string[] = [];
  try {
    for (const { file, key, pid } of found) {
      const podTarget = { ...target, path: `/proc/self/fd/${file.fd}`, inPod: `pod ${pod.namespace}/${pod.pod} (process ${pid}, inode ${key})` };
      try {
        await checkSymbol(type, podTarget);
        out.push({ target: podTarget, key, release: () => file.close() });
      } catch (error) {
        await file.close();
        if (!(error instanceof PluginTargetError)) throw error;
        problems.push(error.message);
      }
    }
  } catch (error) {
    for (const t of out) await t.release?.();
    throw error;
  }
  if (out.length === 0) {
    const why = [...problems, ...skipped];
    throw new PluginTargetError(
      "EOP_ERR_TARGET_NOT_FOUND",
      `${type} target: no container of pod ${pod.namespace}/${pod.pod} has ${target.binary}${why.length ? ` (${why.join("; ")})` : " (no process of the pod is visible yet)"}`,
    );
  }
  return out;
}

/** The function exists in the file's symbol tables (and an offset stays inside it). */
async function checkSymbol(type: string, target: UprobeTarget & { path: string }): Promise<void> {
  const symbols = await readFunctionSymbols(target.path);
  const file = target.inPod !== undefined ? `${target.binary} in ${target.inPod}` : target.path;
  if (symbols === "not-elf") {
    throw new PluginTargetError("EOP_ERR_TARGET_NOT_FOUND", `${type} target: ${file} is not an ELF binary (a script? probe its interpreter instead)`);
  }
  if (symbols === "unsupported-elf" || target.symbol === undefined) return; // the attach checks what cannot be read here
  if (!symbols.hasSymbolTables) {
    throw new PluginTargetError(
      "EOP_ERR_TARGET_NOT_FOUND",
      `${type} target: ${file} has no symbol tables (stripped): give a file offset instead of "${target.symbol}"`,
    );
  }
  const size = symbols.functions.get(target.symbol);
  if (size === undefined) {
    const near = closestNames(target.symbol, [...symbols.functions.keys()]);
    throw new PluginTargetError(
      "EOP_ERR_TARGET_NOT_FOUND",
      `${type} target: function "${target.symbol}" is not in the symbol tables of ${file}${near.length ? ` (did you mean ${near.join(", ")}?)` : ""}`,
    );
  }
  if (size > 0 && target.offset >= size) {
    throw new PluginTargetError("EOP_ERR_TARGET_NOT_FOUND", `${type} target: offset ${target.offset} is outside "${target.symbol}" (${size} bytes) in ${file}`);
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
