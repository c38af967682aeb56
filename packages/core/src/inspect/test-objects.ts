/**
 * For tests only (not exported): compiles C with the agent's own compiler (same flags, prelude
 * and include policy as production) and returns the object's bytes.
 */
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BpfCompiler } from "../compiler/index.js";
import { createLogger } from "../logger.js";

let compiler: BpfCompiler | undefined;

export async function compileObject(source: string, label = "test/inspect"): Promise<Uint8Array> {
  compiler ??= new BpfCompiler({ cacheDir: join(tmpdir(), "eop-test-compile-cache"), logger: createLogger({ level: "silent" }) });
  const result = await compiler.compile({ source, label });
  return new Uint8Array(await readFile(result.objectPath));
}

/** A program file around `body`, with the usual includes and licence. */
export function program(body: string, includes = "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n"): string {
  return `${includes}\n${body}\nchar LICENSE[] SEC("license") = "GPL";\n`;
}
