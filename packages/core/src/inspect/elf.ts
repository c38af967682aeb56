/**
 * A reader for the relocatable ELF64 objects clang writes for the BPF target: sections, the
 * symbol table and SHT_REL relocations. Only what object inspection needs; every offset and size
 * is checked against the file, because the bytes are a tenant's (a compiled object can be
 * swapped or crafted). Both byte orders are read (BPF objects for s390x are big-endian).
 */

export class ObjectFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ObjectFormatError";
  }
}

export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHF_WRITE = 0x1;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STB_LOCAL = 0;
export const SHN_UNDEF = 0;
const EM_BPF = 247;
const ET_REL = 1;

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  /** Offset in the file (meaningless for SHT_NOBITS). */
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

export interface ElfSymbol {
  index: number;
  name: string;
  type: number;
  bind: number;
  /** Section index; 0 (SHN_UNDEF) for externs. */
  section: number;
  value: number;
  size: number;
}

export interface ElfRelocation {
  /** Byte offset in the section the relocations apply to. */
  offset: number;
  symbol: number;
  type: number;
}

export class ElfFile {
  readonly littleEndian: boolean;
  readonly sections: readonly ElfSection[];
  readonly symbols: readonly ElfSymbol[];
  readonly #bytes: Uint8Array;
  readonly #view: DataView;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.byteLength < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
      throw new ObjectFormatError("not an ELF file");
    }
    if (bytes[4] !== 2) throw new ObjectFormatError("not a 64-bit ELF file");
    if (bytes[5] !== 1 && bytes[5] !== 2) throw new ObjectFormatError(`unknown ELF byte order ${bytes[5]}`);
    this.littleEndian = bytes[5] === 1;
    const type = this.u16(16);
    const machine = this.u16(18);
    if (type !== ET_REL) throw new ObjectFormatError(`ELF type ${type} is not a relocatable object`);
    if (machine !== EM_BPF) throw new ObjectFormatError(`ELF machine ${machine} is not BPF (${EM_BPF})`);
    const shoff = this.u64(40);
    const shentsize = this.u16(58);
    const shnum = this.u16(60);
    const shstrndx = this.u16(62);
    if (shentsize !== 64) throw new ObjectFormatError(`section header size ${shentsize} is not 64`);
    this.checkRange(shoff, shnum * 64, "section header table");
    const raw: Omit<ElfSection, "name">[] = [];
    const nameOffsets: number[] = [];
    for (let i = 0; i < shnum; i++) {
      const at = shoff + i * 64;
      nameOffsets.push(this.u32(at));
      const section = {
        index: i,
        type: this.u32(at + 4),
        flags: Number(this.view.getBigUint64(at + 8, this.littleEndian) & 0xffffffffn),
        offset: this.u64(at + 24),
        size: this.u64(at + 32),
        link: this.u32(at + 40),
        info: this.u32(at + 44),
        entsize: this.u64(at + 56),
      };
      if (section.type !== SHT_NOBITS && i !== 0) this.checkRange(section.offset, section.size, `section #${i}`);
      raw.push(section);
    }
    const shstr = raw[shstrndx];
    if (shstr === undefined || shstr.type !== SHT_STRTAB) throw new ObjectFormatError("no section name string table");
    const names = { name: ".shstrtab", offset: shstr.offset, size: shstr.size };
    this.sections = raw.map((s, i) => ({ ...s, name: i === 0 ? "" : this.string(names, nameOffsets[i]!) }));
    this.symbols = this.readSymbols();
  }

  private get view(): DataView {
    return this.#view;
  }

  u8(at: number): number {
    return this.#view.getUint8(at);
  }
  u16(at: number): number {
    return this.#view.getUint16(at, this.littleEndian);
  }
  u32(at: number): number {
    return this.#view.getUint32(at, this.littleEndian);
  }
  i16(at: number): number {
    return this.#view.getInt16(at, this.littleEndian);
  }
  i32(at: number): number {
    return this.#view.getInt32(at, this.littleEndian);
  }
  /** A u64 that must fit a JS number (offsets and sizes: checked against the file anyway). */
  u64(at: number): number {
    const value = this.#view.getBigUint64(at, this.littleEndian);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ObjectFormatError(`value ${value} at offset ${at} is out of range`);
    return Number(value);
  }

  checkRange(offset: number, size: number, what: string): void {
    if (offset < 0 || size < 0 || offset + size > this.#bytes.byteLength) {
      throw new ObjectFormatError(`${what} (offset ${offset}, ${size} bytes) lies outside the ${this.#bytes.byteLength}-byte file`);
    }
  }

  /** The bytes of a section (empty for SHT_NOBITS). */
  data(section: ElfSection): Uint8Array {
    if (section.type === SHT_NOBITS) return new Uint8Array(0);
    return this.#bytes.subarray(section.offset, section.offset + section.size);
  }

  /** A NUL-terminated string at `offset` in a string table section. */
  string(table: Pick<ElfSection, "name" | "offset" | "size">, offset: number): string {
    if (offset >= table.size) throw new ObjectFormatError(`string offset ${offset} is outside ${table.name || "a string table"}`);
    const start = table.offset + offset;
    let end = start;
    const limit = table.offset + table.size;
    while (end < limit && this.#bytes[end] !== 0) end++;
    return new TextDecoder().decode(this.#bytes.subarray(start, end));
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** The SHT_REL relocations that apply to section `index` (`.rel<name>`). */
  relocationsFor(index: number): ElfRelocation[] {
    const out: ElfRelocation[] = [];
    for (const rel of this.sections) {
      if (rel.type !== SHT_REL || rel.info !== index) continue;
      if (rel.entsize !== 16) throw new ObjectFormatError(`relocation section ${rel.name} has entries of ${rel.entsize} bytes, not 16`);
      for (let at = rel.offset; at + 16 <= rel.offset + rel.size; at += 16) {
        const info = this.#view.getBigUint64(at + 8, this.littleEndian);
        out.push({ offset: this.u64(at), symbol: Number(info >> 32n), type: Number(info & 0xffffffffn) });
      }
    }
    return out.sort((a, b) => a.offset - b.offset);
  }

  private readSymbols(): ElfSymbol[] {
    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB);
    if (symtab === undefined) throw new ObjectFormatError("no symbol table");
    if (symtab.entsize !== 24) throw new ObjectFormatError(`symbol table entries are ${symtab.entsize} bytes, not 24`);
    const strtab = this.sections[symtab.link];
    if (strtab === undefined || strtab.type !== SHT_STRTAB) throw new ObjectFormatError("the symbol table has no string table");
    const symbols: ElfSymbol[] = [];
    for (let i = 0, at = symtab.offset; at + 24 <= symtab.offset + symtab.size; i++, at += 24) {
      const info = this.u8(at + 4);
      symbols.push({
        index: i,
        name: this.string(strtab, this.u32(at)),
        type: info & 0xf,
        bind: info >> 4,
        section: this.u16(at + 6),
        value: this.u64(at + 8),
        size: this.u64(at + 16),
      });
    }
    return symbols;
  }
}
