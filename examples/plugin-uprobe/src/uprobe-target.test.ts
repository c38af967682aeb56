import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@ebpf-operator/core";
import { resolveBinary, searchDirectories } from "./binary-path.js";
import { readFunctionSymbols } from "./elf-symbols.js";
import { compileProbeTarget } from "./fixtures/compile.js";
import { uprobePlugin } from "./uprobe-plugin.js";
import { describeTarget, parseUprobeTarget } from "./uprobe-target.js";

describe("parseUprobeTarget", () => {
  it.each([
    ["uprobe", "/usr/bin/bash:readline", { binary: "/usr/bin/bash", symbol: "readline", offset: 0, retprobe: false }],
    ["uprobe", "uprobe//usr/bin/bash:readline", { binary: "/usr/bin/bash", symbol: "readline", offset: 0 }],
    ["uprobe", "libc.so.6:malloc+0x10", { binary: "libc.so.6", symbol: "malloc", offset: 16 }],
    ["uprobe", "/opt/app/server:0x1a2b", { binary: "/opt/app/server", symbol: undefined, offset: 0x1a2b }],
    ["uprobe", "bash:readline?pid=42", { binary: "bash", symbol: "readline", pid: 42 }],
    ["uretprobe", "uretprobe/libssl.so.3:SSL_write", { binary: "libssl.so.3", symbol: "SSL_write", retprobe: true }],
    ["uretprobe", "/usr/lib/libfoo.so:_ZN3foo3barEv", { symbol: "_ZN3foo3barEv", retprobe: true }],
  ])("reads %s target %s", (type, target, expected) => {
    expect(parseUprobeTarget(type, target)).toMatchObject(expected);
  });

  it.each([
    ["uprobe", "/usr/bin/bash", "is not [uprobe/|uretprobe/]<binary>:<symbol>"],
    ["uprobe", "bash:1readline", "is not"],
    ["uprobe", "relative/path:main", "is not"],
    ["uprobe", "/usr/bin/bash:readline?pid=0", "is not"],
    ["uprobe", "uretprobe/bash:readline", "contradicts type: uprobe"],
    ["uretprobe", "bash:readline+4", "return probes fire on the function's return"],
    ["uprobe", "bash:0", "file offset 0"],
    ["uprobe", "bash:0xffffffffffffffffff", "beyond 2^53"],
  ])("refuses %s target %s", (type, target, why) => {
    expect(() => parseUprobeTarget(type, target)).toThrow(expect.objectContaining({ code: "EOP_ERR_TARGET_INVALID", message: expect.stringContaining(why) }));
  });

  it("describes a target as /status shows it", () => {
    expect(describeTarget({ ...parseUprobeTarget("uprobe", "bash:readline+0x10?pid=7"), path: "/usr/bin/bash" })).toBe("/usr/bin/bash:readline+0x10 (pid 7)");
    expect(describeTarget(parseUprobeTarget("uprobe", "/x:4096"))).toBe("/x:0x1000");
  });
});

describe("resolving the binary and the function", () => {
  const host = { logger: createLogger({ level: "silent" }), tracefs: async () => "/sys/kernel/tracing" };
  let dir: string;
  let binary: string;
  const resolve = (type: string, target: string) => uprobePlugin.resolveTarget!(type, uprobePlugin.parseTarget(type, target), host);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "eop-uprobe-unit-"));
    binary = compileProbeTarget(dir);
    writeFileSync(join(dir, "script.sh"), "#!/bin/sh\n");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the function symbols of an ELF file, with sizes", async () => {
    const symbols = await readFunctionSymbols(binary);
    expect(symbols).not.toBe("not-elf");
    if (typeof symbols === "string") return;
    expect(symbols.hasSymbolTables).toBe(true);
    expect(symbols.functions.get("eop_probe_target")).toBeGreaterThan(0);
    expect(symbols.functions.has("main")).toBe(true);
    expect(symbols.functions.has("printf")).toBe(false); // imported, not defined here
  });

  it("reads versioned dynamic symbols of a library as plain names", async () => {
    const libc = await resolveBinary("libc.so.6", "uprobe");
    const symbols = await readFunctionSymbols(libc);
    expect(typeof symbols !== "string" && symbols.functions.has("malloc")).toBe(true);
  });

  it("finds a bare name in PATH or the library directories", async () => {
    expect(await resolveBinary("sh", "uprobe")).toMatch(/\/sh$/);
    expect(await resolveBinary("libc.so.6", "uprobe")).toMatch(/\/libc\.so\.6$/);
    expect(searchDirectories({ PATH: "/a:relative:/b" }, "x64").slice(0, 3)).toEqual(["/a", "/b", "/lib/x86_64-linux-gnu"]);
  });

  it("resolves an existing function to the binary's path", async () => {
    expect(await resolve("uprobe", `${binary}:eop_probe_target`)).toMatchObject({ path: binary, symbol: "eop_probe_target" });
  });

  it("names the closest functions when the symbol does not exist", async () => {
    await expect(resolve("uprobe", `${binary}:eop_probe_targt`)).rejects.toThrow(
      expect.objectContaining({
        code: "EOP_ERR_TARGET_NOT_FOUND",
        message: expect.stringMatching(/function "eop_probe_targt" is not in the symbol tables of .* \(did you mean eop_probe_target/),
      }),
    );
  });

  it("names the closest files when the binary does not exist", async () => {
    await expect(resolve("uprobe", `${binary}-x:main`)).rejects.toThrow(/probe-target-x does not exist \(did you mean .*probe-target/);
    await expect(resolve("uprobe", "no-such-binary-eop:main")).rejects.toThrow(/no file "no-such-binary-eop" in PATH/);
  });

  it("refuses a file that is not ELF, an offset outside the function and a process that does not map the binary", async () => {
    await expect(resolve("uprobe", `${dir}/script.sh:main`)).rejects.toThrow(/is not an ELF binary/);
    await expect(resolve("uprobe", `${binary}:eop_probe_target+100000`)).rejects.toThrow(/offset 100000 is outside "eop_probe_target"/);
    await expect(resolve("uprobe", `${binary}:main?pid=${process.pid}`)).rejects.toThrow(`process ${process.pid} does not map ${binary}`);
    await expect(resolve("uprobe", `${binary}:main?pid=2147483647`)).rejects.toThrow(/process 2147483647 does not exist/);
  });

  it("accepts a process that maps the file", async () => {
    expect(await resolve("uprobe", `${process.execPath}:main?pid=${process.pid}`)).toMatchObject({ pid: process.pid });
  });
});

describe("pod scope", () => {
  it("runs behind the agent's gate at each pod's own binary, and refuses ?pid= (a node process) in pod scope", () => {
    const scope = uprobePlugin.podScope!;
    expect(scope.mode).toBe("gate");
    expect(scope.gateTargets).toBeTypeOf("function");
    expect(() => scope.check("uprobe", parseUprobeTarget("uprobe", "/app/server:handle"))).not.toThrow();
    expect(() => scope.check("uprobe", parseUprobeTarget("uprobe", "/app/server:handle?pid=7"))).toThrow(
      expect.objectContaining({ code: "EOP_ERR_TARGET_INVALID", message: expect.stringContaining("?pid=7 names a process of the node") }),
    );
  });

  it("describes a pod's target by the binary as the pod sees it, never the agent's fd path", () => {
    const target = { ...parseUprobeTarget("uprobe", "/app/server:handle"), path: "/proc/self/fd/31", inPod: "pod alice/web (process 9, inode 2049:77)" };
    expect(describeTarget(target)).toBe("/app/server:handle in pod alice/web (process 9, inode 2049:77)");
  });
});
