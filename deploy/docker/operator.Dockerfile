# syntax=docker/dockerfile:1
# The operator image: `ebpf-operator run` (the controller). It compiles EbpfMaps with clang, so
# it carries clang/llvm, libbpf's headers (bpf/bpf_helpers.h, ...) and the kernel UAPI headers
# (linux-libc-dev); bpftool generates vmlinux.h from the kernel BTF of the node it runs on
# (/sys/kernel/btf/vmlinux, readable in an unprivileged pod); bubblewrap sandboxes every clang
# run. The same image runs both containers of the operator's pod (`run` and `compile-server`).
# It never loads a program: it runs as a non-root user with no capabilities.
#
# Build from the repository root (the context is the whole repository):
#   docker build -f deploy/docker/operator.Dockerfile -t localhost/ebpf-operator/operator:0.1.0 .
# deploy/docker/operator.Dockerfile.dockerignore keeps node_modules, builds and caches out.

ARG NODE_IMAGE=node:22.20.0-bookworm-slim

# ---------------------------------------------------------------------------------------------
# build: npm dependencies, the libbpf addon (node-gyp against the system libbpf), the TypeScript
# packages (tsup), then drop the dev dependencies.
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 make g++ pkg-config libbpf-dev libelf-dev zlib1g-dev libseccomp-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# node-gyp builds the addon against the image's own Node headers (no download).
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json tsconfig.base.json tsup.base.ts ./
COPY packages ./packages
COPY bpf ./bpf
# `npm install` with the committed lock installs exactly the locked versions (`npm ci`, which
# scripts/setup.sh uses, works too now that the lock holds every platform's optional packages).
# `--omit=optional` with `--omit=dev`: vitest is an optional peer of @ebpf-operator/core (for its
# conformance suite), which npm keeps under `--omit=dev` alone; deploy/images/build.mjs installs
# with the same options.
RUN npm install --no-audit --no-fund \
 && npm run build \
 && npm prune --omit=dev --omit=optional --no-audit --no-fund \
 && rm -rf packages/*/src packages/libbpf/build/Release/obj.target packages/libbpf/build/Release/.deps

# ---------------------------------------------------------------------------------------------
# runtime
FROM ${NODE_IMAGE} AS runtime
# clang + llvm: the BPF compiler; libbpf-dev: bpf/*.h (and libbpf1, which the addon links);
# linux-libc-dev: linux/*.h and asm/*.h; bpftool: vmlinux.h; bubblewrap: the sandbox every clang
# run gets (compile-server); libseccomp2: the addon builds the sandbox's seccomp filter with it;
# util-linux (prlimit, in the base image) sets clang's memory, CPU and file-size limits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      clang llvm libbpf-dev linux-libc-dev bpftool bubblewrap libseccomp2 libelf1 zlib1g \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/packages ./packages
# ebpf-operator/prelude.h and friends: the compiler finds bpf/include by walking up from
# packages/core/dist.
COPY --from=build /app/bpf ./bpf
ENV NODE_ENV=production \
    TMPDIR=/tmp \
    HOME=/tmp
# A numeric non-root user (runAsNonRoot can verify it); the manifests run it as 65532 too.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "/app/packages/operator/dist/cli.js"]
CMD ["run"]
