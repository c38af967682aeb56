#!/usr/bin/env bash
# The standalone agent on examples/: serves http://127.0.0.1:9442/metrics until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
cat <<'MSG'
==> starting the standalone agent on examples/ (Ctrl-C stops it; programs stay pinned)
    curl -s http://127.0.0.1:9442/metrics | grep execve_counter_total
    curl -s http://127.0.0.1:9442/status
MSG
# The uprobe/uretprobe example needs the example third-party plugin beside the built-in ones.
export EBPF_AGENT_PLUGINS="${EBPF_AGENT_PLUGINS:-./examples/plugin-uprobe}"
# A 2 MiB young generation keeps garbage-collection pauses short while a scrape holds many
# strings alive (docs/benchmarks.md); the agent image sets the same in NODE_OPTIONS.
exec node --max-semi-space-size=2 packages/core/dist/cli.js run --config examples --listen "${EBPF_AGENT_LISTEN:-127.0.0.1:9442}"
