#!/usr/bin/env bash
# `npm run cluster`: a local one-node cluster with the operator from the local images
# (test/helpers/node/cli.ts, docs/kube-node.md). Bundled with esbuild (a dependency of tsup)
# because Node 20 cannot run TypeScript itself.
set -euo pipefail
cd "$(dirname "$0")/.."
# Three levels below the repository, like test/helpers/node/cli.ts: the bundle finds the
# repository (repoRoot) from its own location.
out=".cache/node/cli/cluster.mjs"
npx --no-install esbuild test/helpers/node/cli.ts --bundle --platform=node --format=esm --target=node20 \
  --log-level=warning --outfile="$out"
exec node "$out" "$@"
