/**
 * A reader for an object's own BTF (`.BTF`) and its extension (`.BTF.ext`): the types that
 * describe BTF-defined maps (`.maps`), function prototypes (kfunc arguments), and per-instruction
 * line info (which source line a finding is on) and CO-RE relocation sites. Bounds-checked: the
 * bytes are a tenant's.
 */
import { ObjectFormatError } from "./elf.js";

export const BTF_KIND = {
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

export interface BtfMember {
  name: string;
  type: number;
  /** Bit offset (with kind_flag, the low 24 bits). */
  offset: number;
}

export interface BtfTypeEntry {
  id: number;
  kind: number;
  name: string;
  /** `size` for sized kinds, the referenced type id for the others. */
  sizeOrType: number;
  vlen: number;
  kindFlag: boolean;
  members: BtfMember[];
  array?: { type: number; nelems: number };
  /** DATASEC entries: variable type, offset and size in the section. */
  vars: { type: number; offset: number; size: number }[];
  /** FUNC_PROTO parameters. */
  params: { name: string; type: number }[];
}

const MAX_TYPE_DEPTH = 32;

export class Btf {
  readonly types: readonly (BtfTypeEntry | undefined)[];
  readonly #strings: Uint8Array;

  constructor(bytes: Uint8Array, littleEndian: boolean) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.byteLength < 24) throw new ObjectFormatError(".BTF is too short");
    if (view.getUint16(0, littleEndian) !== 0xeb9f) throw new ObjectFormatError(".BTF has a bad magic number");
    const hdrLen = view.getUint32(4, littleEndian);
    const typeOff = view.getUint32(8, littleEndian);
    const typeLen = view.getUint32(12, littleEndian);
    const strOff = view.getUint32(16, littleEndian);
    const strLen = view.getUint32(20, littleEndian);
    const typesStart = hdrLen + typeOff;
    const stringsStart = hdrLen + strOff;
    if (typesStart + typeLen > bytes.byteLength || stringsStart + strLen > bytes.byteLength) {
      throw new ObjectFormatError(".BTF sections lie outside the .BTF data");
    }
    this.#strings = bytes.subarray(stringsStart, stringsStart + strLen);
    const types: (BtfTypeEntry | undefined)[] = [undefined];
    let at = typesStart;
    const end = typesStart + typeLen;
    const need = (n: number): void => {
      if (at + n > end) throw new ObjectFormatError(`.BTF type #${types.length} is truncated`);
    };
    while (at < end) {
      need(12);
      const nameOff = view.getUint32(at, littleEndian);
      const info = view.getUint32(at + 4, littleEndian);
      const sizeOrType = view.getUint32(at + 8, littleEndian);
      at += 12;
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      const entry: BtfTypeEntry = {
        id: types.length,
        kind,
        name: this.string(nameOff),
        sizeOrType,
        vlen,
        kindFlag: info >>> 31 === 1,
        members: [],
        vars: [],
        params: [],
      };
      switch (kind) {
        case BTF_KIND.INT:
        case BTF_KIND.VAR:
        case BTF_KIND.DECL_TAG:
          need(4);
          at += 4;
          break;
        case BTF_KIND.ARRAY:
          need(12);
          entry.array = { type: view.getUint32(at, littleEndian), nelems: view.getUint32(at + 8, littleEndian) };
          at += 12;
          break;
        case BTF_KIND.STRUCT:
        case BTF_KIND.UNION:
          need(12 * vlen);
          for (let i = 0; i < vlen; i++, at += 12) {
            entry.members.push({
              name: this.string(view.getUint32(at, littleEndian)),
              type: view.getUint32(at + 4, littleEndian),
              offset: view.getUint32(at + 8, littleEndian),
            });
          }
          break;
        case BTF_KIND.ENUM:
          need(8 * vlen);
          at += 8 * vlen;
          break;
        case BTF_KIND.ENUM64:
          need(12 * vlen);
          at += 12 * vlen;
          break;
        case BTF_KIND.FUNC_PROTO:
          need(8 * vlen);
          for (let i = 0; i < vlen; i++, at += 8) {
            entry.params.push({ name: this.string(view.getUint32(at, littleEndian)), type: view.getUint32(at + 4, littleEndian) });
          }
          break;
        case BTF_KIND.DATASEC:
          need(12 * vlen);
          for (let i = 0; i < vlen; i++, at += 12) {
            entry.vars.push({
              type: view.getUint32(at, littleEndian),
              offset: view.getUint32(at + 4, littleEndian),
              size: view.getUint32(at + 8, littleEndian),
            });
          }
          break;
        case BTF_KIND.PTR:
        case BTF_KIND.FWD:
        case BTF_KIND.TYPEDEF:
        case BTF_KIND.VOLATILE:
        case BTF_KIND.CONST:
        case BTF_KIND.RESTRICT:
        case BTF_KIND.FUNC:
        case BTF_KIND.FLOAT:
        case BTF_KIND.TYPE_TAG:
          break;
        default:
          throw new ObjectFormatError(`.BTF type #${types.length} has unknown kind ${kind}`);
      }
      types.push(entry);
    }
    this.types = types;
  }

  /** A string from the BTF string section; "" for offset 0. */
  string(offset: number): string {
    if (offset === 0) return "";
    if (offset >= this.#strings.byteLength) throw new ObjectFormatError(`.BTF string offset ${offset} is out of range`);
    let end = offset;
    while (end < this.#strings.byteLength && this.#strings[end] !== 0) end++;
    return new TextDecoder().decode(this.#strings.subarray(offset, end));
  }

  type(id: number): BtfTypeEntry {
    const t = this.types[id];
    if (t === undefined) throw new ObjectFormatError(`.BTF has no type #${id}`);
    return t;
  }

  /** Follows typedefs and qualifiers. */
  resolve(id: number): BtfTypeEntry {
    let t = this.type(id);
    for (let depth = 0; depth < MAX_TYPE_DEPTH; depth++) {
      if (
        t.kind === BTF_KIND.TYPEDEF ||
        t.kind === BTF_KIND.VOLATILE ||
        t.kind === BTF_KIND.CONST ||
        t.kind === BTF_KIND.RESTRICT ||
        t.kind === BTF_KIND.TYPE_TAG
      ) {
        t = this.type(t.sizeOrType);
      } else {
        return t;
      }
    }
    throw new ObjectFormatError(`.BTF type #${id} nests too deeply`);
  }

  /** Size in bytes of a type (after typedefs and qualifiers). */
  sizeOf(id: number, depth = 0): number {
    if (depth > MAX_TYPE_DEPTH) throw new ObjectFormatError(`.BTF type #${id} nests too deeply`);
    const t = this.resolve(id);
    switch (t.kind) {
      case BTF_KIND.INT:
      case BTF_KIND.STRUCT:
      case BTF_KIND.UNION:
      case BTF_KIND.ENUM:
      case BTF_KIND.ENUM64:
      case BTF_KIND.FLOAT:
      case BTF_KIND.DATASEC:
        return t.sizeOrType;
      case BTF_KIND.PTR:
        return 8;
      case BTF_KIND.ARRAY:
        return t.array!.nelems * this.sizeOf(t.array!.type, depth + 1);
      default:
        throw new ObjectFormatError(`.BTF type #${id} (kind ${t.kind}) has no size`);
    }
  }

  /** Whether a (function parameter) type is a pointer to non-const memory. */
  isMutablePointer(id: number): boolean {
    let t = this.type(id);
    for (let depth = 0; depth < MAX_TYPE_DEPTH && (t.kind === BTF_KIND.TYPEDEF || t.kind === BTF_KIND.VOLATILE || t.kind === BTF_KIND.RESTRICT); depth++)
      t = this.type(t.sizeOrType);
    if (t.kind !== BTF_KIND.PTR) return false;
    let target = t.sizeOrType === 0 ? undefined : this.type(t.sizeOrType);
    for (
      let depth = 0;
      depth < MAX_TYPE_DEPTH &&
      target !== undefined &&
      (target.kind === BTF_KIND.TYPEDEF || target.kind === BTF_KIND.VOLATILE || target.kind === BTF_KIND.TYPE_TAG);
      depth++
    ) {
      target = target.sizeOrType === 0 ? undefined : this.type(target.sizeOrType);
    }
    return target?.kind !== BTF_KIND.CONST;
  }

  find(kind: number, name: string): BtfTypeEntry | undefined {
    return this.types.find((t) => t?.kind === kind && t.name === name);
  }
}

export interface LineInfo {
  /** Byte offset of the instruction in its ELF section. */
  insnOffset: number;
  file: string;
  line: number;
  column: number;
  /** The source line's text, as the compiler recorded it. */
  text: string;
}

export interface BtfExt {
  /** Line info records per ELF section name, sorted by instruction offset. */
  lines: Map<string, LineInfo[]>;
  /** Byte offsets of instructions with a CO-RE relocation, per ELF section name. */
  coreRelocations: Map<string, Set<number>>;
}

/** Parses `.BTF.ext`: line info and CO-RE relocation sites (func info is not needed). */
export function parseBtfExt(bytes: Uint8Array, littleEndian: boolean, btf: Btf): BtfExt {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 24) throw new ObjectFormatError(".BTF.ext is too short");
  if (view.getUint16(0, littleEndian) !== 0xeb9f) throw new ObjectFormatError(".BTF.ext has a bad magic number");
  const hdrLen = view.getUint32(4, littleEndian);
  const lineOff = view.getUint32(16, littleEndian);
  const lineLen = view.getUint32(20, littleEndian);
  const coreOff = hdrLen >= 32 ? view.getUint32(24, littleEndian) : 0;
  const coreLen = hdrLen >= 32 ? view.getUint32(28, littleEndian) : 0;
  const result: BtfExt = { lines: new Map(), coreRelocations: new Map() };

  /** Calls `record(sectionName, offsetOfRecord)` for every record of one info block. */
  const forEachRecord = (off: number, len: number, minSize: number, record: (section: string, at: number) => void): void => {
    if (len === 0) return;
    let at = hdrLen + off;
    const end = at + len;
    if (end > bytes.byteLength || len < 4) throw new ObjectFormatError(".BTF.ext info lies outside the section");
    const recordSize = view.getUint32(at, littleEndian);
    if (recordSize < minSize) throw new ObjectFormatError(`.BTF.ext record size ${recordSize} is too small`);
    at += 4;
    while (at < end) {
      if (at + 8 > end) throw new ObjectFormatError(".BTF.ext info is truncated");
      const section = btf.string(view.getUint32(at, littleEndian));
      const count = view.getUint32(at + 4, littleEndian);
      at += 8;
      if (at + count * recordSize > end) throw new ObjectFormatError(`.BTF.ext info for ${section} is truncated`);
      for (let i = 0; i < count; i++, at += recordSize) record(section, at);
    }
  };

  forEachRecord(lineOff, lineLen, 16, (section, at) => {
    const lineCol = view.getUint32(at + 12, littleEndian);
    const list = result.lines.get(section) ?? [];
    list.push({
      insnOffset: view.getUint32(at, littleEndian),
      file: btf.string(view.getUint32(at + 4, littleEndian)),
      text: btf.string(view.getUint32(at + 8, littleEndian)).trim(),
      line: lineCol >>> 10,
      column: lineCol & 0x3ff,
    });
    result.lines.set(section, list);
  });
  forEachRecord(coreOff, coreLen, 16, (section, at) => {
    const set = result.coreRelocations.get(section) ?? new Set<number>();
    set.add(view.getUint32(at, littleEndian));
    result.coreRelocations.set(section, set);
  });
  for (const list of result.lines.values()) list.sort((a, b) => a.insnOffset - b.insnOffset);
  return result;
}

/** The line info record covering the instruction at `insnOffset` (the last one at or before it). */
export function lineAt(lines: readonly LineInfo[] | undefined, insnOffset: number): LineInfo | undefined {
  if (lines === undefined || lines.length === 0) return undefined;
  let lo = 0;
  let hi = lines.length - 1;
  let found: LineInfo | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const entry = lines[mid]!;
    if (entry.insnOffset <= insnOffset) {
      found = entry;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
