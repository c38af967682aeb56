/**
 * The images `npm run images` builds (deploy/images/build.mjs) against their definition, the
 * Dockerfiles (deploy/docker/): the archives are read with skopeo (an independent OCI reader)
 * and by listing every layer; the same files, user, environment, entrypoint and packages the
 * Dockerfile's runtime stage gives, and nothing of the build (sources, dev dependencies). Then
 * a rebuild of the Node.js and /app layers gives the same bytes (reproducible), and the sizes
 * stay small. The images running for real are the other node tests.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/kube/control-plane.js";
import { attachNodeCluster } from "../helpers/node/cluster.js";
import type { ImageArchive } from "../helpers/node/cluster.js";
// @ts-expect-error: plain JavaScript module without type declarations (deploy/images/).
import { readRecipe } from "../../deploy/images/dockerfile.mjs";

interface Recipe {
  nodeVersion: string;
  debianSuite: string;
  packages: string[];
  env: [string, string][];
  user: string;
  workdir: string;
  expose: string[];
  entrypoint: string[];
  cmd: string[];
  copies: { dest: string }[];
  omit: string[];
}
interface ImageConfig {
  config: { User: string; Env: string[]; Entrypoint: string[]; Cmd: string[]; WorkingDir: string; ExposedPorts?: Record<string, object> };
  rootfs: { diff_ids: string[] };
  os: string;
  architecture: string;
}

const cluster = attachNodeCluster();
const recipeOf = (name: string) => readRecipe(join(repoRoot, "deploy/docker", `${name}.Dockerfile`)) as Recipe;

function skopeo(args: string[]): string {
  const r = spawnSync("skopeo", args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`skopeo ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Every path in the image (all layers), without the leading "./" or "/". */
function listFiles(image: ImageArchive): Set<string> {
  const index = JSON.parse(spawnSync("tar", ["-xOf", image.archive, "index.json"], { encoding: "utf8" }).stdout) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(
    spawnSync("tar", ["-xOf", image.archive, `blobs/sha256/${index.manifests[0]!.digest.slice(7)}`], { encoding: "utf8" }).stdout,
  ) as { layers: { digest: string }[] };
  const files = new Set<string>();
  for (const layer of manifest.layers) {
    const blob = spawnSync("tar", ["-xOf", image.archive, `blobs/sha256/${layer.digest.slice(7)}`], { maxBuffer: 1 << 30 }).stdout;
    const list = spawnSync("tar", ["-tz"], { input: blob, encoding: "utf8", maxBuffer: 256 << 20 }).stdout;
    for (const line of list.split("\n")) if (line) files.add(line.replace(/^\.?\//, "").replace(/\/$/, ""));
  }
  return files;
}

function fileFromImage(image: ImageArchive, path: string): string {
  const index = JSON.parse(spawnSync("tar", ["-xOf", image.archive, "index.json"], { encoding: "utf8" }).stdout) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(
    spawnSync("tar", ["-xOf", image.archive, `blobs/sha256/${index.manifests[0]!.digest.slice(7)}`], { encoding: "utf8" }).stdout,
  ) as { layers: { digest: string }[] };
  for (const layer of [...manifest.layers].reverse()) {
    const blob = spawnSync("tar", ["-xOf", image.archive, `blobs/sha256/${layer.digest.slice(7)}`], { maxBuffer: 1 << 30 }).stdout;
    for (const candidate of [path, `./${path}`]) {
      const r = spawnSync("tar", ["-xzO", candidate], { input: blob, encoding: "utf8", maxBuffer: 64 << 20 });
      if (r.status === 0) return r.stdout;
    }
  }
  throw new Error(`${path} is in no layer of ${image.archive}`);
}

describe.each(["operator", "agent"] as const)("the %s image", (name) => {
  let image: ImageArchive;
  let recipe: Recipe;
  let config: ImageConfig;
  let files: Set<string>;

  beforeAll(() => {
    image = cluster.images[name];
    recipe = recipeOf(name);
    config = JSON.parse(skopeo(["inspect", "--config", `oci-archive:${image.archive}`])) as ImageConfig;
    files = listFiles(image);
  });

  it("is named as the manifests name it, and skopeo reads it as a linux/amd64 OCI image", () => {
    const manifestFile = name === "operator" ? "30-operator-deployment.yaml" : "40-agent-daemonset.yaml";
    const manifest = spawnSync("grep", ["-m1", "image:", join(repoRoot, "deploy/manifests", manifestFile)], { encoding: "utf8" }).stdout;
    expect(manifest.trim()).toBe(`image: ${image.ref}`);
    const inspected = JSON.parse(skopeo(["inspect", `oci-archive:${image.archive}`])) as { Layers: string[]; Os: string; Architecture: string };
    expect(inspected.Os).toBe("linux");
    expect(inspected.Architecture).toBe("amd64");
    expect(inspected.Layers).toHaveLength(3);
  });

  it("has the Dockerfile runtime stage's user, environment, working directory, ports, entrypoint and command", () => {
    expect(config.config.User).toBe(recipe.user);
    expect(config.config.Entrypoint).toEqual(recipe.entrypoint);
    expect(config.config.Cmd).toEqual(recipe.cmd);
    expect(config.config.WorkingDir).toBe(recipe.workdir);
    expect(Object.keys(config.config.ExposedPorts ?? {})).toEqual(recipe.expose);
    for (const [key, value] of recipe.env) expect(config.config.Env).toContain(`${key}=${value}`);
    // What the node base image sets and the entrypoint relies on (`node` on PATH).
    expect(config.config.Env).toContain(`NODE_VERSION=${recipe.nodeVersion}`);
    expect(config.config.Env.find((e) => e.startsWith("PATH="))).toContain("/usr/local/bin");
    // The operator never needs root; the agent does (bpffs, tracefs and cgroups are root's).
    expect(recipe.user).toBe(name === "operator" ? "65532:65532" : "0:0");
  });

  it("holds what the Dockerfile copies to /app, the libbpf addon, the plugins and node, and nothing of the build", () => {
    for (const copy of recipe.copies) expect(files, copy.dest).toContain(copy.dest.replace(/^\//, ""));
    const entry = recipe.entrypoint[1]!.replace(/^\//, "");
    expect(files).toContain(entry);
    expect(files).toContain("usr/local/bin/node");
    expect(files).toContain("app/packages/libbpf/build/Release/ebpf_libbpf.node");
    for (const plugin of ["kprobe", "tracepoint", "raw-tracepoint", "fentry", "xdp", "socket", "cgroup"])
      expect(files).toContain(`app/packages/plugin-${plugin}/dist/index.js`);
    expect(files).toContain("app/bpf/include/ebpf-operator/prelude.h");
    // Workspace packages are linked from node_modules, as npm leaves them in the Dockerfile.
    expect(files).toContain("app/node_modules/@ebpf-operator/core");
    // No TypeScript sources, no build intermediates, no dev or optional-peer dependencies.
    const paths = [...files];
    expect(paths.filter((p) => /^app\/packages\/[^/]+\/src\//.test(p))).toEqual([]);
    expect(paths.filter((p) => p.includes("/obj.target/"))).toEqual([]);
    for (const dev of ["vitest", "typescript", "tsup", "eslint", "esbuild", "node-gyp"]) expect(files, dev).not.toContain(`app/node_modules/${dev}`);
    // Every runtime dependency of the packages is there (hoisted, or nested under the package).
    for (const pkg of ["core", "operator", "libbpf"]) {
      const manifest = JSON.parse(readFileSync(join(repoRoot, "packages", pkg, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
      for (const dep of Object.keys(manifest.dependencies ?? {})) {
        const found =
          files.has(`app/node_modules/${dep}/package.json`) ||
          files.has(`app/packages/${pkg}/node_modules/${dep}/package.json`) ||
          files.has(`app/node_modules/${dep}`);
        expect(found, `${pkg} depends on ${dep}`).toBe(true);
      }
    }
  });

  it("has the runtime stage's Debian packages installed (dpkg), on the Dockerfile's Debian suite", () => {
    const status = fileFromImage(image, "var/lib/dpkg/status");
    const installed = new Set([...status.matchAll(/^Package: (\S+)\nStatus: install ok installed/gm)].map((m) => m[1]!));
    for (const pkg of recipe.packages) expect(installed, pkg).toContain(pkg);
    // What the node:*-slim base image has for node itself (node links libstdc++).
    expect(installed).toContain("libstdc++6");
    expect(fileFromImage(image, "etc/debian_version")).toMatch(/^12\./); // bookworm
    expect(recipe.debianSuite).toBe("bookworm");
    // The compiler is only in the operator's image.
    expect(installed.has("clang")).toBe(name === "operator");
    // bubblewrap, the sandbox of every clang run (the operator's compile server, the standalone
    // agent's compiles), and libseccomp, which the addon links to build its seccomp filter.
    for (const pkg of ["bubblewrap", "libseccomp2"]) expect(installed, pkg).toContain(pkg);
    expect(files).toContain("usr/bin/bwrap");
    // No package manager front end or mirror list: nothing to apt-get with, no host names inside.
    expect(files).not.toContain("etc/apt/sources.list.d/debian.sources");
  });
});

describe("the image build", () => {
  it("is reproducible: the Node.js and /app layers rebuilt from scratch have the same digests", async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [join(repoRoot, "deploy/images/build.mjs"), "--json", "--rebuild", "app,node"], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const chunks: Buffer[] = [];
      child.stdout.on("data", (c: Buffer) => chunks.push(c));
      child.on("exit", (code) => (code === 0 ? resolve(Buffer.concat(chunks).toString("utf8")) : reject(new Error(`build.mjs exited ${code}`))));
    });
    const rebuilt = JSON.parse(out) as Record<"operator" | "agent", ImageArchive>;
    for (const name of ["operator", "agent"] as const) expect(rebuilt[name].manifest, name).toBe(cluster.images[name].manifest);
  });

  it("makes small images (sizes in docs/deploy.md)", () => {
    const mb = (n: number) => Math.round(n / 1e6);
    console.info(
      Object.entries(cluster.images)
        .map(([n, i]) => `${n}: ${mb(i.size)} MB compressed, ${mb(i.uncompressed)} MB unpacked`)
        .join("; "),
    );
    // The agent: Debian essential + libbpf's runtime + node + /app.
    expect(cluster.images.agent.size).toBeLessThan(110e6);
    // The operator carries clang and LLVM.
    expect(cluster.images.operator.size).toBeLessThan(260e6);
    expect(cluster.images.pause.size).toBeLessThan(2e6);
  });
});
