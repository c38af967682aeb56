#!/usr/bin/env bash
# The standalone agent on examples/: serves http://127.0.0.1:9442/metrics until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
cat <<'MSG'
==> starting the standalone agent on examples/ (Ctrl-C stops it; programs stay pinned)
    curl -s http://127.0.0.1:9442/metrics | grep execve_counter_total
    curl -s http://127.0.0.1:9442/status
MSG
exec node packages/core/dist/cli.js run --config examples --listen "${EBPF_AGENT_LISTEN:-127.0.0.1:9442}"
