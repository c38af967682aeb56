/**
 * Reads deploy/docker/*.Dockerfile into the recipe that deploy/images/build.mjs builds without a
 * container engine, so the Dockerfiles stay the one definition of the images: base (Node
 * version, Debian suite), runtime Debian packages, what is copied into /app, environment, user,
 * working directory, ports, entrypoint and command. Only the subset of the Dockerfile syntax
 * these two files use is understood; anything else in the runtime stage is an error, so a
 * Dockerfile change the builder would silently ignore fails the build (and the test) instead.
 *
 * Plain Node, no dependencies.
 */
import { readFileSync } from "node:fs";

/** Splits a shell-like word list on blanks, keeping quoted parts together (quotes removed). */
export function words(text) {
  const out = [];
  let current = "";
  let quote = "";
  let inWord = false;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = "";
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(current);
      current = "";
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} in: ${text}`);
  if (inWord) out.push(current);
  return out;
}

/** Instructions ({op, args, line}) of a Dockerfile: continuations joined, comments dropped. */
export function parseInstructions(text) {
  const out = [];
  let pending = "";
  let startLine = 0;
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line.startsWith("#") || (line === "" && !pending)) return;
    if (!pending) startLine = index + 1;
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " ";
      return;
    }
    const full = (pending + line).trim();
    pending = "";
    if (full === "") return;
    const match = /^(\S+)\s*(.*)$/s.exec(full);
    out.push({ op: match[1].toUpperCase(), args: match[2].trim(), line: startLine });
  });
  if (pending.trim()) throw new Error("the Dockerfile ends inside a line continuation");
  return out;
}

const substitute = (text, vars) =>
  text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a, b) => (vars.has(a ?? b) ? vars.get(a ?? b) : whole));

/** Splits `RUN` text at `&&`, `;` and `||` (outside quotes is good enough for these files). */
function commands(run) {
  return run.split(/&&|\|\||;/).map((c) => c.trim()).filter(Boolean);
}

/**
 * Debian packages a runtime-stage `RUN` installs: every `apt-get install` word that is not an
 * option, with `if [ "$ARG" = "value" ]; then apt-get install ...; fi` honoured for the ARG's
 * value (its default unless `buildArgs` sets it).
 */
function installedPackages(run, vars) {
  const packages = [];
  // Conditionals first: keep or drop their body.
  const flat = run.replace(/if \[ "\$\{?(\w+)\}?" = "([^"]*)" \];\s*then(.*?);\s*fi/gs, (_, name, value, body) =>
    (vars.get(name) ?? "") === value ? body : "",
  );
  for (const command of commands(flat)) {
    const w = words(command);
    const i = w.indexOf("install");
    if (w[0] !== "apt-get" || i < 0) continue;
    packages.push(...w.slice(i + 1).filter((word) => !word.startsWith("-")));
  }
  return packages;
}

/**
 * The image a Dockerfile describes, as the builder needs it.
 * @param {string} file path of the Dockerfile
 * @param {Record<string,string>} [buildArgs] --build-arg values
 */
export function readRecipe(file, buildArgs = {}) {
  const instructions = parseInstructions(readFileSync(file, "utf8"));
  const globalArgs = new Map();
  const stages = [];
  for (const ins of instructions) {
    if (ins.op === "FROM") {
      const w = words(ins.args);
      const ref = substitute(w[0], globalArgs);
      stages.push({ name: w[2] ?? String(stages.length), from: ref, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.op !== "ARG") throw new Error(`${file}:${ins.line}: ${ins.op} before the first FROM`);
      const [name, value = ""] = ins.args.split("=", 2);
      globalArgs.set(name, buildArgs[name] ?? value);
    } else {
      stages.at(-1).instructions.push(ins);
    }
  }
  const runtime = stages.at(-1);
  if (!runtime) throw new Error(`${file}: no FROM`);
  // The build stage's `npm prune` options decide which dependencies reach the image.
  const prune = stages
    .slice(0, -1)
    .flatMap((stage) => stage.instructions.filter((ins) => ins.op === "RUN"))
    .flatMap((ins) => commands(ins.args))
    .map((command) => words(command))
    .find((w) => w[0] === "npm" && w[1] === "prune");
  if (!prune) throw new Error(`${file}: no \`npm prune\` in the build stage`);
  const base = /^node:(\d+\.\d+\.\d+)-(\w+)-slim$/.exec(runtime.from);
  if (!base) throw new Error(`${file}: runtime base ${runtime.from} is not node:<x.y.z>-<debian suite>-slim`);

  const vars = new Map(globalArgs);
  const recipe = {
    file,
    nodeVersion: base[1],
    debianSuite: base[2],
    packages: [],
    env: [], // [name, value] in order
    user: "0:0",
    workdir: "/",
    expose: [],
    entrypoint: [],
    cmd: [],
    copies: [], // { from, sources, dest } with dest absolute
    omit: prune.filter((w) => w.startsWith("--omit=")), // e.g. ["--omit=dev", "--omit=optional"]
  };
  for (const ins of runtime.instructions) {
    const where = `${file}:${ins.line}`;
    switch (ins.op) {
      case "ARG": {
        const [name, value = ""] = ins.args.split("=", 2);
        vars.set(name, buildArgs[name] ?? globalArgs.get(name) ?? value);
        break;
      }
      case "RUN":
        recipe.packages.push(...installedPackages(substitute(ins.args, new Map()), vars));
        break;
      case "WORKDIR":
        recipe.workdir = ins.args;
        break;
      case "COPY": {
        const w = words(ins.args);
        const from = w.find((x) => x.startsWith("--from="))?.slice("--from=".length);
        if (!from) throw new Error(`${where}: the runtime stage copies only from the build stage (--from=...)`);
        const paths = w.filter((x) => !x.startsWith("--"));
        const dest = paths.at(-1);
        const absolute = dest.startsWith("/") ? dest : `${recipe.workdir.replace(/\/$/, "")}/${dest.replace(/^\.\//, "")}`;
        recipe.copies.push({ from, sources: paths.slice(0, -1), dest: absolute.replace(/\/$/, "") });
        break;
      }
      case "ENV": {
        for (const pair of words(ins.args)) {
          const eq = pair.indexOf("=");
          if (eq <= 0) throw new Error(`${where}: ENV ${pair}: only the NAME=value form is supported`);
          recipe.env.push([pair.slice(0, eq), pair.slice(eq + 1)]);
        }
        break;
      }
      case "USER":
        recipe.user = ins.args;
        break;
      case "EXPOSE":
        recipe.expose.push(...words(ins.args).map((p) => (p.includes("/") ? p : `${p}/tcp`)));
        break;
      case "ENTRYPOINT":
        recipe.entrypoint = JSON.parse(ins.args);
        break;
      case "CMD":
        recipe.cmd = JSON.parse(ins.args);
        break;
      default:
        throw new Error(`${where}: ${ins.op} in the runtime stage is not understood by deploy/images/dockerfile.mjs`);
    }
  }
  return recipe;
}
