# syntax=docker/dockerfile:1
# The node agent image: `ebpf-operator agent` (one per node, a DaemonSet). It loads the objects
# the operator compiled (it never runs clang), so it needs only libbpf's runtime (libbpf1, with
# libelf1 and zlib1g) for the Node-API addon. bpftool is optional (debugging on the node:
# `kubectl exec ... -- bpftool prog list`): build with --build-arg WITH_BPFTOOL=true.
# It runs as uid 0 with only the capabilities the DaemonSet adds (see docs/deploy.md).
#
# Build from the repository root:
#   docker build -f deploy/docker/agent.Dockerfile -t localhost/ebpf-operator/agent:0.1.0 .

ARG NODE_IMAGE=node:22.20.0-bookworm-slim

# ---------------------------------------------------------------------------------------------
# build: the same build as the operator image's (one workspace, one lock).
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 make g++ pkg-config libbpf-dev libelf-dev zlib1g-dev libseccomp-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json tsconfig.base.json tsup.base.ts ./
COPY packages ./packages
COPY bpf ./bpf
# `npm install` from the committed lock, pruned as in operator.Dockerfile (see there).
RUN npm install --no-audit --no-fund \
 && npm run build \
 && npm prune --omit=dev --omit=optional --no-audit --no-fund \
 && rm -rf packages/*/src packages/libbpf/build/Release/obj.target packages/libbpf/build/Release/.deps

# ---------------------------------------------------------------------------------------------
# runtime
FROM ${NODE_IMAGE} AS runtime
ARG WITH_BPFTOOL=false
# libbpf1 + libelf1 + zlib1g + libseccomp2: what the addon links. bubblewrap: the compiler's
# sandbox, for the standalone agent (`ebpf-agent run` compiles for itself; the cluster agent
# only loads what the operator compiled). mount/mountpoint (util-linux, in the base image)
# serve the chart's optional mount-bpffs init container.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 libelf1 zlib1g libseccomp2 bubblewrap \
 && if [ "$WITH_BPFTOOL" = "true" ]; then apt-get install -y --no-install-recommends bpftool; fi \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/packages ./packages
COPY --from=build /app/bpf ./bpf
ENV NODE_ENV=production
# Short garbage-collection pauses while a large scrape is served (docs/benchmarks.md).
ENV NODE_OPTIONS=--max-semi-space-size=2
# uid 0, but the DaemonSet drops every capability except BPF, PERFMON, NET_ADMIN and NET_RAW.
USER 0:0
EXPOSE 9442
ENTRYPOINT ["node", "/app/packages/operator/dist/cli.js"]
CMD ["agent"]
