/**
 * `inspectObject(bytes)`: what a compiled BPF object would make the kernel do, read from the ELF
 * itself (never from a status or a manifest): every program and subprogram with its helper
 * calls (by id and name), kfunc calls, bpf-to-bpf calls, callback references, tail calls, map
 * and extern references, and every map with its type, sizes, max entries, pinning and a memory
 * estimate. Each finding carries the source line when `.BTF.ext` line info has it.
 *
 * The view follows libbpf 1.x, which is what loads the object: programs are the functions of
 * executable sections other than `.text`; `.text` functions are subprograms, appended to each
 * program that calls (or takes the address of) them; BTF-defined maps live in `.maps`, global
 * variables in `.bss`/`.data`/`.rodata*` become one-entry array maps.
 *
 * Pure: no kernel, no libbpf. Usable by the operator after compiling and by the agent before
 * loading the same bytes.
 */
import { BPF_HELPERS, BPF_MAP_TYPES } from "./bpf-uapi.js";
import { BTF_KIND, Btf, lineAt, parseBtfExt, type BtfExt, type LineInfo } from "./btf.js";
import {
  ElfFile,
  ObjectFormatError,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHN_UNDEF,
  SHT_NOBITS,
  SHT_PROGBITS,
  STT_FUNC,
  STT_SECTION,
  type ElfSection,
  type ElfSymbol,
} from "./elf.js";
import { INSN_SIZE, OPCODE, PSEUDO_CALL, PSEUDO_KFUNC_CALL, decodeInsn, isLdImm64, type Insn } from "./insn.js";

export { ObjectFormatError } from "./elf.js";

export const TAIL_CALL_HELPER_ID = 12;

/** Where in the tenant's source a finding is. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
  /** The line's text as the compiler recorded it. */
  text: string;
}

/** One instruction of one function. */
export interface Site {
  /** The function (program or subprogram) the instruction is in. */
  function: string;
  /** Instruction index within the function. */
  insn: number;
  source?: SourceLocation;
}

export interface HelperCall extends Site {
  id: number;
  /** `bpf_<name>` from the UAPI header; `unknown helper #<id>` for ids newer than it. */
  name: string;
}

export interface NamedSite extends Site {
  name: string;
}

export interface FunctionReport {
  name: string;
  section: string;
  /** `program`: an entry point libbpf can load; `subprogram`: a `.text` function programs call. */
  kind: "program" | "subprogram";
  /** Instruction slots (an `r = imm64` takes two). */
  instructions: number;
  helperCalls: HelperCall[];
  kfuncCalls: NamedSite[];
  /** bpf-to-bpf calls; `name` is the callee (`<unresolved>` when it points at no function). */
  calls: NamedSite[];
  /** Functions whose address is taken (callbacks of bpf_loop, timers, for_each_map_elem). */
  functionReferences: NamedSite[];
  mapReferences: NamedSite[];
  /** `__ksym` externs: kernel variables the code reads. */
  ksymReferences: NamedSite[];
  /** `__kconfig` externs: kernel configuration values. */
  kconfigReferences: NamedSite[];
  exits: Site[];
}

export interface ProgramReport {
  name: string;
  section: string;
  /** The program itself first, then every subprogram it calls or references, transitively. */
  functions: string[];
  /** Instruction slots of the program and its subprograms, as the kernel will see them. */
  instructions: number;
  helperCalls: HelperCall[];
  kfuncCalls: NamedSite[];
  /** The `bpf_tail_call` sites among `helperCalls`. */
  tailCalls: HelperCall[];
  calls: NamedSite[];
  functionReferences: NamedSite[];
  mapReferences: NamedSite[];
  ksymReferences: NamedSite[];
  kconfigReferences: NamedSite[];
}

export interface MapReport {
  name: string;
  /** libbpf's name of the map type (`hash`, `percpu_array`, ...); `unknown(<n>)` if newer than the header. */
  type: string;
  typeId: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** `none`, `by_name` (LIBBPF_PIN_BY_NAME: libbpf pins it under its pin root path), or the raw value. */
  pinning: "none" | "by_name" | number;
  /** A global-data map libbpf makes from `.bss`, `.data`, `.rodata*` or `.kconfig`. */
  internal: boolean;
  perCpu: boolean;
  /** The definition names initial values (`__array(values, ...)`: program arrays, maps of maps). */
  initialValues: boolean;
  /** Memory estimate: `fixedBytes + perCpuBytes × possible CPUs` (payload; kernel overhead excluded). */
  memory: { fixedBytes: number; perCpuBytes: number };
  /** The first instruction that references the map, for messages. */
  firstUse?: SourceLocation;
}

export interface ObjectReport {
  license: string;
  programs: ProgramReport[];
  functions: FunctionReport[];
  maps: MapReport[];
}

/**
 * What the observe-mode analysis needs beyond the report: the decoded code. Kept out of the
 * report (which is plain data for statuses and logs) and found again through the report object.
 */
export interface FunctionCode {
  name: string;
  section: string;
  insns: Insn[];
  /** Instruction indices (within the function) that have a CO-RE relocation. */
  coreRelocated: Set<number>;
  /** Per instruction index: the callee of a `call`, the target of a function reference. */
  callTargets: Map<number, string>;
  /** Per instruction index: kfunc calls and their BTF prototype's mutable pointer arguments. */
  kfuncArgs: Map<number, number[]>;
  /** The function's raw instruction bytes, as libbpf hands them out before load. */
  bytes: Uint8Array;
  littleEndian: boolean;
  /** The source line of an instruction, when line info has it. */
  source(insn: number): SourceLocation | undefined;
}

const internals = new WeakMap<ObjectReport, Map<string, FunctionCode>>();

/** The decoded code behind a report made by {@link inspectObject} in this process. */
export function codeOf(report: ObjectReport): Map<string, FunctionCode> | undefined {
  return internals.get(report);
}

/** Map types whose value is stored once per possible CPU. */
const PER_CPU_MAP_TYPES = new Set(["percpu_hash", "percpu_array", "lru_percpu_hash", "percpu_cgroup_storage"]);
const ARRAY_LIKE_MAP_TYPES = new Set([
  "array",
  "percpu_array",
  "prog_array",
  "perf_event_array",
  "cgroup_array",
  "array_of_maps",
  "cgroup_storage",
  "percpu_cgroup_storage",
]);
const DATA_SECTION = /^\.(bss|data|rodata)(\..*)?$/;
const MAX_INSNS = 1_000_000;

const roundUp8 = (n: number): number => Math.ceil(n / 8) * 8;

/** The memory a map of this shape can hold, split into a fixed and a per-CPU part. */
export function mapMemory(type: string, keySize: number, valueSize: number, maxEntries: number): { fixedBytes: number; perCpuBytes: number } {
  if (type === "ringbuf" || type === "user_ringbuf") return { fixedBytes: maxEntries, perCpuBytes: 0 };
  const perCpu = PER_CPU_MAP_TYPES.has(type);
  const keyBytes = ARRAY_LIKE_MAP_TYPES.has(type) ? 0 : roundUp8(keySize);
  const valueBytes = roundUp8(valueSize);
  return perCpu
    ? { fixedBytes: maxEntries * keyBytes, perCpuBytes: maxEntries * valueBytes }
    : { fixedBytes: maxEntries * (keyBytes + valueBytes), perCpuBytes: 0 };
}

/** Bytes of a map's memory estimate on a node with `possibleCpus` CPUs. */
export function mapBytes(map: Pick<MapReport, "memory">, possibleCpus: number): number {
  return map.memory.fixedBytes + map.memory.perCpuBytes * possibleCpus;
}

export function helperName(id: number): string {
  return BPF_HELPERS[id]?.name ?? `unknown helper #${id}`;
}

export interface InspectOptions {
  /**
   * The program's C source. The compiler maps its build directory away, so clang cannot read the
   * file back when it writes line info and the recorded text is empty: lines of `sourceFile`
   * then take their text from here.
   */
  source?: string;
  /** The name the source was compiled as; default `program.bpf.c` (the agent's compiler). */
  sourceFile?: string;
}

function locator(options: InspectOptions): (info: LineInfo | undefined) => SourceLocation | undefined {
  const lines = options.source?.split("\n");
  const file = options.sourceFile ?? "program.bpf.c";
  return (info) => {
    if (info === undefined) return undefined;
    let text = info.text;
    if (text === "" && lines !== undefined && info.file.replace(/^.*\//, "") === file) text = (lines[info.line - 1] ?? "").trim();
    return { file: info.file, line: info.line, column: info.column, text };
  };
}

interface FunctionRange {
  symbol: ElfSymbol;
  section: ElfSection;
}

/**
 * Inspects a BPF ELF object. Throws {@link ObjectFormatError} naming what is malformed; never
 * trusts a size or offset in the file.
 */
export function inspectObject(bytes: Uint8Array, options: InspectOptions = {}): ObjectReport {
  try {
    return inspect(bytes, locator(options));
  } catch (error) {
    if (error instanceof ObjectFormatError) throw error;
    // DataView reads past a (lying) length: still a malformed object, never a crash.
    if (error instanceof RangeError) throw new ObjectFormatError(`malformed object: ${error.message}`);
    throw error;
  }
}

function inspect(bytes: Uint8Array, location: (info: LineInfo | undefined) => SourceLocation | undefined): ObjectReport {
  const elf = new ElfFile(bytes);
  const btfSection = elf.section(".BTF");
  const btf = btfSection ? new Btf(elf.data(btfSection), elf.littleEndian) : undefined;
  const extSection = elf.section(".BTF.ext");
  const ext: BtfExt = extSection && btf ? parseBtfExt(elf.data(extSection), elf.littleEndian, btf) : { lines: new Map(), coreRelocations: new Map() };

  const executable = elf.sections.filter((s) => s.type === SHT_PROGBITS && (s.flags & SHF_EXECINSTR) !== 0 && s.size > 0);
  const text = elf.section(".text");
  const ranges: FunctionRange[] = [];
  for (const section of executable) {
    const symbols = elf.symbols.filter((s) => s.section === section.index && s.type === STT_FUNC).sort((a, b) => a.value - b.value);
    for (const symbol of symbols) {
      if (symbol.value % INSN_SIZE !== 0 || symbol.size % INSN_SIZE !== 0 || symbol.value + symbol.size > section.size) {
        throw new ObjectFormatError(`function ${symbol.name} lies outside its section ${section.name}`);
      }
      ranges.push({ symbol, section });
    }
  }
  const totalInsns = ranges.reduce((n, r) => n + r.symbol.size / INSN_SIZE, 0);
  if (totalInsns > MAX_INSNS) throw new ObjectFormatError(`the object has ${totalInsns} instructions, more than the kernel's limit of ${MAX_INSNS}`);
  const onlyFunction = ranges.length === 1;
  const functionAt = (sectionIndex: number, byteOffset: number): FunctionRange | undefined =>
    ranges.find((r) => r.section.index === sectionIndex && byteOffset >= r.symbol.value && byteOffset < r.symbol.value + r.symbol.size);

  const mapSymbols = mapSymbolNames(elf);
  const externKinds = externSections(btf);
  const functions: FunctionReport[] = [];
  const code = new Map<string, FunctionCode>();

  for (const range of ranges) {
    const { symbol, section } = range;
    const name = symbol.name;
    const relocations = new Map(elf.relocationsFor(section.index).map((r) => [r.offset, r]));
    const lines = ext.lines.get(section.name);
    const core = ext.coreRelocations.get(section.name) ?? new Set<number>();
    const data = elf.data(section).subarray(symbol.value, symbol.value + symbol.size);
    const count = symbol.size / INSN_SIZE;
    const report: FunctionReport = {
      name,
      section: section.name,
      kind: section === text && !onlyFunction ? "subprogram" : "program",
      instructions: count,
      helperCalls: [],
      kfuncCalls: [],
      calls: [],
      functionReferences: [],
      mapReferences: [],
      ksymReferences: [],
      kconfigReferences: [],
      exits: [],
    };
    const fc: FunctionCode = {
      name,
      section: section.name,
      insns: [],
      coreRelocated: new Set(),
      callTargets: new Map(),
      kfuncArgs: new Map(),
      bytes: data,
      littleEndian: elf.littleEndian,
      source: (insn) => location(lineAt(lines, symbol.value + insn * INSN_SIZE)),
    };
    for (let i = 0; i < count; i++) {
      const insn = decodeInsn(data, i, elf.littleEndian);
      fc.insns.push(insn);
      const sectionOffset = symbol.value + i * INSN_SIZE;
      if (core.has(sectionOffset)) fc.coreRelocated.add(i);
      const site = (): Site => {
        const s: Site = { function: name, insn: i };
        const source = fc.source(i);
        if (source) s.source = source;
        return s;
      };
      const relocation = relocations.get(sectionOffset);
      const target = relocation ? elf.symbols[relocation.symbol] : undefined;
      if (relocation && target === undefined)
        throw new ObjectFormatError(`a relocation in ${section.name} names symbol #${relocation.symbol}, which does not exist`);

      if (insn.code === OPCODE.CALL) {
        if (insn.src === 0 && target === undefined) {
          report.helperCalls.push({ ...site(), id: insn.imm, name: helperName(insn.imm) });
        } else if (target !== undefined && target.section === SHN_UNDEF) {
          report.kfuncCalls.push({ ...site(), name: target.name });
          fc.kfuncArgs.set(i, kfuncMutableArgs(btf, target.name));
        } else if (insn.src === PSEUDO_KFUNC_CALL) {
          report.kfuncCalls.push({ ...site(), name: `kfunc #${insn.imm}` });
          fc.kfuncArgs.set(i, [1, 2, 3, 4, 5]);
        } else if (insn.src === PSEUDO_CALL) {
          // libbpf: with a relocation, the callee is at sym + (imm + 1) insns in the symbol's
          // section; without one, at (this insn's index in its section + imm + 1) in .text.
          const callee = target
            ? functionAt(target.section, target.value + (insn.imm + 1) * INSN_SIZE)
            : text
              ? functionAt(text.index, sectionOffset + (insn.imm + 1) * INSN_SIZE)
              : undefined;
          const calleeName = callee?.symbol.name ?? "<unresolved>";
          report.calls.push({ ...site(), name: calleeName });
          fc.callTargets.set(i, calleeName);
        } else {
          report.helperCalls.push({ ...site(), id: insn.imm, name: helperName(insn.imm) });
        }
      } else if (insn.code === OPCODE.EXIT) {
        report.exits.push(site());
      } else if (isLdImm64(insn)) {
        if (target !== undefined) {
          const sectionOfTarget = elf.sections[target.section];
          if (target.section === SHN_UNDEF) {
            const kind = externKinds.get(target.name) ?? (/^(CONFIG_|LINUX_)/.test(target.name) ? "kconfig" : "ksym");
            (kind === "kconfig" ? report.kconfigReferences : report.ksymReferences).push({ ...site(), name: target.name });
          } else if (mapSymbols.has(target.index)) {
            report.mapReferences.push({ ...site(), name: target.name });
          } else if (sectionOfTarget !== undefined && (sectionOfTarget.flags & SHF_EXECINSTR) !== 0) {
            const referenced = functionAt(target.section, target.value + insn.imm);
            const referencedName = referenced?.symbol.name ?? "<unresolved>";
            report.functionReferences.push({ ...site(), name: referencedName });
            fc.callTargets.set(i, referencedName);
          } else if (sectionOfTarget !== undefined && DATA_SECTION.test(sectionOfTarget.name)) {
            report.mapReferences.push({ ...site(), name: sectionOfTarget.name });
          }
        }
        // The second half of `r = imm64` is data, not an instruction.
        if (i + 1 < count) fc.insns.push(decodeInsn(data, i + 1, elf.littleEndian));
        i++;
      }
    }
    if (fc.insns.length !== count) throw new ObjectFormatError(`function ${name} ends inside an \`r = imm64\` instruction`);
    functions.push(report);
    code.set(name, fc);
  }

  const maps = [...btfMaps(elf, btf), ...dataMaps(elf, btf)];
  for (const map of maps) {
    const use = functions.flatMap((f) => f.mapReferences).find((r) => r.name === map.name && r.source);
    if (use?.source) map.firstUse = use.source;
  }
  const licenseSection = elf.section("license");
  const license = licenseSection ? new TextDecoder().decode(elf.data(licenseSection)).replace(/\0.*$/s, "") : "";
  const programs = functions.filter((f) => f.kind === "program").map((f) => programReport(f, functions));
  const report: ObjectReport = { license, programs, functions, maps };
  internals.set(report, code);
  return report;
}

function programReport(entry: FunctionReport, functions: readonly FunctionReport[]): ProgramReport {
  const byName = new Map(functions.map((f) => [f.name, f]));
  const reached: FunctionReport[] = [];
  const queue = [entry];
  const seen = new Set<string>([entry.name]);
  while (queue.length > 0) {
    const f = queue.shift()!;
    reached.push(f);
    for (const ref of [...f.calls, ...f.functionReferences]) {
      const callee = byName.get(ref.name);
      if (callee && callee.kind === "subprogram" && !seen.has(callee.name)) {
        seen.add(callee.name);
        queue.push(callee);
      }
    }
  }
  const helperCalls = reached.flatMap((f) => f.helperCalls);
  return {
    name: entry.name,
    section: entry.section,
    functions: reached.map((f) => f.name),
    instructions: reached.reduce((n, f) => n + f.instructions, 0),
    helperCalls,
    kfuncCalls: reached.flatMap((f) => f.kfuncCalls),
    tailCalls: helperCalls.filter((c) => c.id === TAIL_CALL_HELPER_ID),
    calls: reached.flatMap((f) => f.calls),
    functionReferences: reached.flatMap((f) => f.functionReferences),
    mapReferences: reached.flatMap((f) => f.mapReferences),
    ksymReferences: reached.flatMap((f) => f.ksymReferences),
    kconfigReferences: reached.flatMap((f) => f.kconfigReferences),
  };
}

/** Symbol indices of the map variables in `.maps`. */
function mapSymbolNames(elf: ElfFile): Set<number> {
  const maps = elf.section(".maps");
  const out = new Set<number>();
  if (maps === undefined) return out;
  for (const s of elf.symbols) if (s.section === maps.index && s.type !== STT_SECTION) out.add(s.index);
  return out;
}

/** Which DATASEC (`.kconfig` or `.ksyms`) declares each extern variable or function. */
function externSections(btf: Btf | undefined): Map<string, "kconfig" | "ksym"> {
  const out = new Map<string, "kconfig" | "ksym">();
  if (btf === undefined) return out;
  for (const t of btf.types) {
    if (t?.kind !== BTF_KIND.DATASEC || (t.name !== ".kconfig" && t.name !== ".ksyms")) continue;
    for (const v of t.vars) out.set(btf.type(v.type).name, t.name === ".kconfig" ? "kconfig" : "ksym");
  }
  return out;
}

/** 1-based indices of a kfunc's parameters that are pointers to non-const memory (all, without BTF). */
function kfuncMutableArgs(btf: Btf | undefined, name: string): number[] {
  const fn = btf?.find(BTF_KIND.FUNC, name);
  if (btf === undefined || fn === undefined) return [1, 2, 3, 4, 5];
  const proto = btf.type(fn.sizeOrType);
  if (proto.kind !== BTF_KIND.FUNC_PROTO) return [1, 2, 3, 4, 5];
  const out: number[] = [];
  proto.params.forEach((p, i) => {
    if (p.type !== 0 && btf.isMutablePointer(p.type)) out.push(i + 1);
  });
  return out;
}

/** BTF-defined maps (`struct { __uint(type, ...); ... } name SEC(".maps")`). */
function btfMaps(elf: ElfFile, btf: Btf | undefined): MapReport[] {
  const section = elf.section(".maps");
  if (section === undefined) return [];
  if (btf === undefined) throw new ObjectFormatError("the object has a .maps section but no .BTF to describe it");
  const datasec = btf.find(BTF_KIND.DATASEC, ".maps");
  if (datasec === undefined) throw new ObjectFormatError("the object's .BTF has no DATASEC for .maps");
  return datasec.vars.map((v) => {
    const variable = btf.type(v.type);
    if (variable.kind !== BTF_KIND.VAR) throw new ObjectFormatError(`.maps entry #${v.type} is not a variable`);
    const def = btf.resolve(variable.sizeOrType);
    if (def.kind !== BTF_KIND.STRUCT) throw new ObjectFormatError(`map ${variable.name}: its definition is not a struct`);
    let typeId = 0;
    let keySize = 0;
    let valueSize = 0;
    let maxEntries = 0;
    let flags = 0;
    let pinning = 0;
    let initialValues = false;
    /** `__uint(name, N)` is `int (*name)[N]`. */
    const uintOf = (member: { name: string; type: number }): number => {
      const ptr = btf.resolve(member.type);
      if (ptr.kind !== BTF_KIND.PTR) throw new ObjectFormatError(`map ${variable.name}: ${member.name} is not declared with __uint`);
      const array = btf.resolve(ptr.sizeOrType);
      if (array.kind !== BTF_KIND.ARRAY || array.array === undefined)
        throw new ObjectFormatError(`map ${variable.name}: ${member.name} is not declared with __uint`);
      return array.array.nelems;
    };
    /** `__type(name, T)` is `T *name`. */
    const typeSizeOf = (member: { name: string; type: number }): number => {
      const ptr = btf.resolve(member.type);
      if (ptr.kind !== BTF_KIND.PTR) throw new ObjectFormatError(`map ${variable.name}: ${member.name} is not declared with __type`);
      return btf.sizeOf(ptr.sizeOrType);
    };
    for (const member of def.members) {
      switch (member.name) {
        case "type":
          typeId = uintOf(member);
          break;
        case "max_entries":
          maxEntries = uintOf(member);
          break;
        case "map_flags":
          flags = uintOf(member);
          break;
        case "pinning":
          pinning = uintOf(member);
          break;
        case "key_size":
          keySize = uintOf(member);
          break;
        case "value_size":
          valueSize = uintOf(member);
          break;
        case "key":
          keySize = typeSizeOf(member);
          break;
        case "value":
          valueSize = typeSizeOf(member);
          break;
        case "values":
          initialValues = true;
          break;
        default:
          break; // numa_node, map_extra: no bearing on what is checked
      }
    }
    const type = BPF_MAP_TYPES[typeId] ?? `unknown(${typeId})`;
    return {
      name: variable.name,
      type,
      typeId,
      keySize,
      valueSize,
      maxEntries,
      flags,
      pinning: pinning === 0 ? "none" : pinning === 1 ? "by_name" : pinning,
      internal: false,
      perCpu: PER_CPU_MAP_TYPES.has(type),
      initialValues,
      memory: mapMemory(type, keySize, valueSize, maxEntries),
    } satisfies MapReport;
  });
}

/** Global variables: libbpf turns each data section into a one-entry array map. */
function dataMaps(elf: ElfFile, btf: Btf | undefined): MapReport[] {
  const out: MapReport[] = [];
  const sections: { name: string; size: number }[] = elf.sections
    .filter((s) => DATA_SECTION.test(s.name) && (s.flags & SHF_ALLOC) !== 0 && (s.flags & SHF_EXECINSTR) === 0 && s.size > 0)
    .map((s) => ({ name: s.name, size: s.type === SHT_NOBITS || s.type === SHT_PROGBITS ? s.size : 0 }));
  const kconfig = btf?.find(BTF_KIND.DATASEC, ".kconfig");
  if (kconfig !== undefined && kconfig.sizeOrType > 0) sections.push({ name: ".kconfig", size: kconfig.sizeOrType });
  for (const s of sections) {
    out.push({
      name: s.name,
      type: "array",
      typeId: 2,
      keySize: 4,
      valueSize: s.size,
      maxEntries: 1,
      flags: 0,
      pinning: "none",
      internal: true,
      perCpu: false,
      initialValues: false,
      memory: mapMemory("array", 4, s.size, 1),
    });
  }
  return out;
}
