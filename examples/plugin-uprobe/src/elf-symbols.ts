/**
 * The function symbols of an ELF file (`.symtab`, then `.dynsym`), read the way the libbpf
 * binding resolves a uprobe's symbol — defined FUNC/IFUNC symbols, `name@VERSION` read as
 * `name` — so a missing function is reported, with the closest names, before anything is
 * loaded. Reads only the headers and symbol sections, not the whole file.
 *
 * 64-bit little-endian ELF only (x86_64, arm64); for other files `readFunctionSymbols` answers
 * `undefined` and the attach itself is the check.
 */
import { open, type FileHandle } from "node:fs/promises";

export type ElfProblem = "not-elf" | "unsupported-elf";

export interface FunctionSymbols {
  /** Function name → size in bytes (0 when the symbol table does not say). */
  functions: Map<string, number>;
  /** False for a stripped file without even a dynamic symbol table. */
  hasSymbolTables: boolean;
}

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const SYMBOL_SIZE = 24;
const MAX_SECTION_BYTES = 512 * 1024 * 1024;

/** The file's function symbols; a problem when it is not an ELF file this reader understands. */
export async function readFunctionSymbols(path: string): Promise<FunctionSymbols | ElfProblem> {
  const file = await open(path, "r");
  try {
    const header = await readAt(file, 0, 64);
    if (header.length < 16 || header.readUInt32BE(0) !== 0x7f454c46) return "not-elf";
    if (header[4] !== 2 || header[5] !== 1 || header.length < 64) return "unsupported-elf"; // ELFCLASS64, ELFDATA2LSB
    const sectionsAt = Number(header.readBigUInt64LE(0x28));
    const entrySize = header.readUInt16LE(0x3a);
    const count = header.readUInt16LE(0x3c);
    if (entrySize < 64 || count === 0) return { functions: new Map(), hasSymbolTables: false };
    const table = await readAt(file, sectionsAt, entrySize * count);
    const section = (i: number) => {
      const at = i * entrySize;
      return {
        type: table.readUInt32LE(at + 4),
        offset: Number(table.readBigUInt64LE(at + 24)),
        size: Number(table.readBigUInt64LE(at + 32)),
        link: table.readUInt32LE(at + 40),
      };
    };
    const functions = new Map<string, number>();
    let hasSymbolTables = false;
    for (const wanted of [SHT_SYMTAB, SHT_DYNSYM]) {
      for (let i = 0; i < count && (i + 1) * entrySize <= table.length; i++) {
        const symbols = section(i);
        if (symbols.type !== wanted || symbols.link >= count || symbols.size > MAX_SECTION_BYTES) continue;
        hasSymbolTables = true;
        const strings = section(symbols.link);
        if (strings.size > MAX_SECTION_BYTES) continue;
        addFunctions(functions, await readAt(file, symbols.offset, symbols.size), await readAt(file, strings.offset, strings.size));
      }
    }
    return { functions, hasSymbolTables };
  } finally {
    await file.close();
  }
}

function addFunctions(functions: Map<string, number>, symbols: Buffer, strings: Buffer): void {
  for (let at = 0; at + SYMBOL_SIZE <= symbols.length; at += SYMBOL_SIZE) {
    const kind = symbols[at + 4]! & 0xf;
    if ((kind !== STT_FUNC && kind !== STT_GNU_IFUNC) || symbols.readUInt16LE(at + 6) === 0) continue; // undefined: imported
    const nameAt = symbols.readUInt32LE(at);
    const end = strings.indexOf(0, nameAt);
    if (nameAt >= strings.length || end < 0) continue;
    const name = strings.toString("latin1", nameAt, end).split("@")[0]!;
    if (name !== "" && !functions.has(name)) functions.set(name, Number(symbols.readBigUInt64LE(at + 16)));
  }
}

async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await file.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}
